"""The bench agent and a gateway with its SQLite store, as child processes on loopback."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from agentmesh.health import wait_serving
from agentmesh.process import ServerProcess


@dataclass(frozen=True)
class BenchMesh:
    agent: ServerProcess
    gateway: ServerProcess

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.gateway.port}"


@asynccontextmanager
async def bench_mesh(store: Path) -> AsyncIterator[BenchMesh]:
    agent = ServerProcess([sys.executable, "-m", "bench.bench_agent", "--host", "127.0.0.1", "--port", "0"])
    await agent.start()
    try:
        await wait_serving(f"127.0.0.1:{agent.port}")
        address = ["--host", "127.0.0.1", "--port", "0"]
        wiring = ["--store", str(store), "--agent", f"bench=127.0.0.1:{agent.port}"]
        gateway = ServerProcess([sys.executable, "-m", "agentmesh", "gateway", *address, *wiring])
        await gateway.start()
        try:
            await wait_serving(f"127.0.0.1:{gateway.port}")
            yield BenchMesh(agent, gateway)
        finally:
            await gateway.stop()
    finally:
        await agent.stop()
