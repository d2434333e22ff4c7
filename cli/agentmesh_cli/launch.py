"""A local mesh: agents and a gateway as child processes, started together, stopped in order.

The one way `agentmesh up`, the demo, the benchmarks and the tests bring a mesh up:
agents start first (all at once); the gateway is told where each is (the ports the OS
picked, for port 0) and starts; "up" means every process answers health SERVING and
the gateway itself sees every local replica SERVING, so a run started then reaches
them all. Stopping goes the other way: the gateway first, so that no new call reaches
an agent that is stopping.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import grpc

from agentmesh.client import Client, ReplicaHealth
from agentmesh.health import wait_serving
from agentmesh_cli.process import ServerProcess


class LocalMesh:
    def __init__(
        self,
        store: Path | str | None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        workflows: Sequence[Path] = (),
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        gateway_args: Sequence[str] = (),
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """`credentials`: reach the servers over TLS (when their arguments or env make them serve it)."""
        self.store, self.host, self.port = store, host, port
        self.credentials = credentials
        self.workflows = list(workflows)
        self.env = dict(env) if env is not None else None
        self.log_dir = log_dir
        self.gateway_args = list(gateway_args)
        self.agents: list[tuple[str, ServerProcess]] = []
        self.remote: dict[str, list[str]] = {}
        #: Agents of the mesh this machine cannot start (name → why, and how to get them): left
        #: out of the gateway's mesh, so that a workflow needing one is refused when it starts.
        self.unavailable: dict[str, str] = {}
        self.gateway: ServerProcess | None = None

    def log_file(self, name: str) -> Path | None:
        """Where a member's log goes, if the mesh keeps logs: LOG_DIR/NAME.log (replicas share one)."""
        return None if self.log_dir is None else self.log_dir / f"{name}.log"

    def add_agent(self, name: str, port: int = 0, process: ServerProcess | None = None) -> ServerProcess:
        """Start this agent with the mesh: a shipped agent by default, or any server process."""
        process = process or ServerProcess.agent(name, port=port, env=self.env, log_file=self.log_file(name))
        process.port = port
        self.agents.append((name, process))
        return process

    def add_remote(self, name: str, address: str) -> None:
        """An address the gateway reaches, not started here."""
        self.remote.setdefault(name, []).append(address)

    def add_unavailable(self, name: str, why: str) -> None:
        """An agent of the mesh that is not started here, nor given to the gateway."""
        self.unavailable[name] = why

    @property
    def target(self) -> str:
        assert self.gateway is not None, "not started"
        return f"127.0.0.1:{self.gateway.port}"

    @property
    def console(self) -> str | None:
        """The web console's URL, when the gateway serves its HTTP port (its log line says where)."""
        said = self.gateway.logged("http listening") if self.gateway is not None else []
        return str(said[0]["console"]) if said and "console" in said[0] else None

    @property
    def processes(self) -> list[tuple[str, ServerProcess]]:
        return [*self.agents, *([("gateway", self.gateway)] if self.gateway else [])]

    async def start(self) -> None:
        """Start everything and return once it is up; on failure stop what started and raise."""
        try:
            spawning = asyncio.gather(*(process.start() for _, process in self.agents))
            if any(process.port == 0 for _, process in self.agents):
                await spawning  # the gateway must be told the ports the OS picks
            # Otherwise the gateway starts alongside its agents: it follows their health and
            # uses each as soon as it is SERVING.
            self.gateway = ServerProcess(
                self.gateway_command(), self.env, name="gateway", log_file=self.log_file("gateway")
            )
            await asyncio.gather(spawning, self.gateway.start())
            await asyncio.gather(
                *(
                    wait_serving(f"127.0.0.1:{process.port}", credentials=self.credentials)
                    for _, process in self.processes
                )
            )
            await self._gateway_sees_every_replica()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> list[int]:
        """Stop the gateway, then the agents; their exit codes, gateway first."""
        codes: list[int] = []
        if self.gateway is not None and self.gateway.started and self.gateway.returncode is None:
            codes.append(await self.gateway.stop())
        running = [process for _, process in self.agents if process.started and process.returncode is None]
        codes += await asyncio.gather(*(process.stop() for process in running))
        return codes

    async def __aenter__(self) -> LocalMesh:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def gateway_command(self) -> list[str]:
        """`agentmesh gateway` wired to the agents (as started so far); no store: the mesh file's."""
        args = [
            sys.executable,
            "-m",
            "agentmesh_cli",
            "gateway",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        if self.store is not None:
            args += ["--store", str(self.store)]
        names = dict.fromkeys([*(name for name, _ in self.agents), *self.remote])
        for name in names:
            local = [f"127.0.0.1:{process.port}" for agent, process in self.agents if agent == name]
            args += ["--agent", f"{name}={','.join(local + self.remote.get(name, []))}"]
        for path in self.workflows:
            args += ["--workflows", str(path)]
        return [*args, *self.gateway_args]

    async def blocked_workflows(self) -> dict[str, list[str]]:
        """The gateway's workflows that need an unavailable agent (through their sub-workflows too),
        and those agents: runs of them are refused, since the gateway does not know the agents."""
        if not self.unavailable:
            return {}
        async with await self._client() as client:
            workflows = await client.list_workflows()
        agents = {w.name: {s.agent for s in w.steps if s.agent} for w in workflows}
        children = {w.name: {s.workflow.partition("@")[0] for s in w.steps if s.workflow} for w in workflows}

        def needed(name: str, seen: frozenset[str] = frozenset()) -> set[str]:
            below = (needed(child, seen | {name}) for child in children.get(name, ()) if child not in seen)
            return agents.get(name, set()).union(*below)

        lacking = {name: sorted(needed(name) & self.unavailable.keys()) for name in agents}
        return {name: missing for name, missing in sorted(lacking.items()) if missing}

    async def _client(self) -> Client:
        tls = self.credentials if self.credentials is not None else False
        # A gateway that checks tokens (the mesh file's auth) is asked with the caller's.
        token = os.environ.get("AGENTMESH_TOKEN") or None
        return await Client.connect(self.target, tls=tls, token=token)

    async def _gateway_sees_every_replica(self, timeout: float = 30) -> None:
        local = {f"127.0.0.1:{process.port}" for _, process in self.agents}
        async with await self._client() as client, asyncio.timeout(timeout):
            while True:
                statuses = await client.list_agents()
                serving = {
                    r.address for a in statuses for r in a.replicas if r.health == ReplicaHealth.SERVING
                }
                if local <= serving:
                    return
                await asyncio.sleep(0.02)
