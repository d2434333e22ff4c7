"""p6: `agentmesh up` until every server is SERVING, and an idle agent's memory in each runtime."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path


def free_ports(count: int) -> list[int]:
    """Ports free right now on 127.0.0.1 (held together while picked, so all distinct)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


# Idle means settled: a Node agent's heap shrinks ~10 s after start, when V8's memory reducer
# runs; Python and Go agents are flat by then.
IDLE_AFTER_S = 12.0


def runtime_of(name: str) -> str:
    """The language a shipped agent is written in, from the command its mesh file gives."""
    from agentmesh_services import AGENTS

    entry = AGENTS[name]
    if entry.module is not None:
        return "python"
    return "node" if entry.command[0] == "node" else "go"


def time_up(workdir: Path) -> tuple[float, dict[str, float]]:
    """`agentmesh up` until it reports every server SERVING; an idle agent's RSS per runtime.

    The mesh file gives fixed ports, as the default one does, so that the gateway starts
    alongside its agents; they are picked free first, so the bench runs beside anything.
    """
    from agentmesh_services import AGENTS

    gateway_port, *ports = free_ports(len(AGENTS) + 1)
    mesh = workdir / "up.yaml"
    agents = "".join(f"  {name}: 127.0.0.1:{port}\n" for name, port in zip(AGENTS, ports, strict=True))
    mesh.write_text(f"gateway: {{port: {gateway_port}, store: {workdir / 'up.db'}}}\nagents:\n{agents}")
    started = time.perf_counter()
    up = subprocess.Popen(
        [sys.executable, "-m", "agentmesh_cli", "up", "--config", str(mesh)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert up.stdout is not None
    pids: dict[str, int] = {}
    for line in up.stdout:
        if found := re.search(r"(\S+)\s+\S+\s+pid (\d+)", line):
            pids[found.group(1)] = int(found.group(2))
        if "mesh is up" in line:
            break
    elapsed = time.perf_counter() - started
    time.sleep(IDLE_AFTER_S)
    by_runtime: dict[str, list[float]] = {}
    for name in AGENTS:
        by_runtime.setdefault(runtime_of(name), []).append(rss_mb(pids[name]))
    up.send_signal(2)
    up.wait(30)
    return elapsed, {runtime: statistics.median(values) for runtime, values in by_runtime.items()}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# A shipped agent per runtime, for the time from spawning its process to SERVING.
ONE_PER_RUNTIME = {"python": "researcher", "node": "video-scriptor", "go": "trend-scanner"}


async def time_to_serving(name: str) -> float:
    """Seconds from spawning a shipped agent's process (its mesh file command) to health SERVING."""
    from agentmesh.health import wait_serving
    from agentmesh_services import AGENTS

    entry = AGENTS[name]
    (port,) = free_ports(1)
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        *entry.argv(), "--host", "127.0.0.1", "--port", str(port), cwd=entry.root, stderr=subprocess.DEVNULL
    )
    try:
        await wait_serving(f"127.0.0.1:{port}", timeout=30)
        return time.perf_counter() - started
    finally:
        process.terminate()
        await process.wait()
