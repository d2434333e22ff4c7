"""p6: `agentmesh up` until every server is SERVING, and an idle agent's memory."""

from __future__ import annotations

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


def time_up(workdir: Path) -> tuple[float, float]:
    """`agentmesh up` until it reports every server SERVING; an idle agent's RSS.

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
    pids = []
    for line in up.stdout:
        if found := re.search(r"pid (\d+)", line):
            pids.append(int(found.group(1)))
        if "mesh is up" in line:
            break
    elapsed = time.perf_counter() - started
    time.sleep(1.0)
    rss = statistics.median(rss_mb(pid) for pid in pids[:-1])  # the agents; the gateway is last
    up.send_signal(2)
    up.wait(30)
    return elapsed, rss


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
