"""Starting agentmesh servers as child processes.

A child started on port 0 reports the port it bound in its "listening" log line, read
from its stderr. Every line is kept (and written to a log file, if given), so that a
child that fails to start can be shown with its last words rather than a bare exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

#: Log lines shown when a child exits before it listens.
LAST_LINES = 12


class StartFailed(RuntimeError):
    """A child exited (or did not listen in time) before serving; the message ends with its last lines."""


class ServerProcess:
    """A child process running an agentmesh server, with its log lines kept for inspection."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str] | None = None,
        *,
        name: str = "",
        log_file: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.args = list(args)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.name = name or " ".join(self.args[1:3])
        self.log_file = log_file
        self.logs: list[dict[str, Any]] = []
        self.port = 0
        self._proc: asyncio.subprocess.Process | None = None
        self._listening: asyncio.Future[int] | None = None
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    def agent(
        cls,
        name: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        env: Mapping[str, str] | None = None,
        log_file: Path | None = None,
        extra: Sequence[str] = (),
    ) -> ServerProcess:
        """A shipped agent, in whatever language, started as the mesh file says (`agentmesh_services`)."""
        from agentmesh_services import AGENTS

        entry = AGENTS[name]
        args = [*entry.argv(), "--host", host, "--port", str(port), *extra]
        return cls(args, env, name=name, log_file=log_file, cwd=entry.root)

    @property
    def started(self) -> bool:
        return self._proc is not None

    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    async def start(self, timeout: float = 30.0) -> int:
        """Start the child and return the port it reports listening on; StartFailed if it does not."""
        self._listening = asyncio.get_running_loop().create_future()
        self._proc = await asyncio.create_subprocess_exec(
            *self.args,
            env=self.env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read_logs())
        try:
            self.port = await asyncio.wait_for(asyncio.shield(self._listening), timeout)
        except TimeoutError:
            await self.kill()
            raise StartFailed(
                f"{self.name} did not start listening within {timeout:g}s{self.last_words()}"
            ) from None
        except BaseException:
            await self.kill()
            raise
        return self.port

    def last_words(self, count: int = LAST_LINES) -> str:
        """The child's last log lines, indented, for an error message (empty if it said nothing)."""
        lines = [_readable(entry) for entry in self.logs[-count:]]
        return "".join(f"\n    {line}" for line in lines)

    def signal(self, signum: int) -> None:
        # os.kill, not Process.send_signal: Popen.send_signal polls first, and that poll can reap
        # the child behind asyncio's child watcher, which then reports exit code 255.
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, signum)

    async def wait(self, timeout: float | None = None) -> int:
        assert self._proc is not None, "not started"
        code = await asyncio.wait_for(self._proc.wait(), timeout)
        if self._reader is not None:
            await self._reader
        return code

    async def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit within `timeout`."""
        self.signal(signal.SIGTERM)
        try:
            return await self.wait(timeout)
        except TimeoutError:
            return await self.kill()

    async def kill(self) -> int:
        self.signal(signal.SIGKILL)
        return await self.wait() if self._proc is not None else -9

    def logged(self, msg: str) -> list[dict[str, Any]]:
        """The log entries whose message is `msg`."""
        return [entry for entry in self.logs if entry.get("msg") == msg]

    async def _read_logs(self) -> None:
        assert self._proc is not None
        assert self._proc.stderr is not None
        sink: IO[str] | None = None
        if self.log_file is not None:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            sink = self.log_file.open("a", encoding="utf-8")
        try:
            async for raw in self._proc.stderr:
                line = raw.decode(errors="replace").rstrip()
                if sink is not None:
                    sink.write(line + "\n")
                    sink.flush()
                try:
                    entry = json.loads(line)
                except ValueError:
                    entry = {"msg": line}
                if not isinstance(entry, dict):
                    entry = {"msg": line}
                self.logs.append(entry)
                if entry.get("msg") == "listening" and self._listening and not self._listening.done():
                    self._listening.set_result(int(entry["port"]))
        finally:
            if sink is not None:
                sink.close()
        if self._listening is not None and not self._listening.done():
            code = await self._proc.wait()
            self._listening.set_exception(
                StartFailed(f"{self.name} exited with code {code} before listening{self.last_words()}")
            )


def _readable(entry: Mapping[str, Any]) -> str:
    """A JSON log entry as a person reads it: level, message, then its fields."""
    fields = " ".join(f"{k}={v}" for k, v in entry.items() if k not in ("time", "level", "logger", "msg"))
    level = entry.get("level", "")
    return " ".join(part for part in (str(level), str(entry.get("msg", "")), fields) if part)
