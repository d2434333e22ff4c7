"""What the benchmarks measure, as child processes on loopback: the raw echo server (the floor),
and the bench agent with a gateway and its SQLite store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from agentmesh.health import wait_serving
from agentmesh_cli.process import ServerProcess


@dataclass(frozen=True)
class BenchMesh:
    agent: ServerProcess
    gateway: ServerProcess

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.gateway.port}"


@contextmanager
def echo_server() -> Iterator[str]:
    """The raw grpc.aio server; yields its address. Started before anything is measured, so
    that its blocking spawn costs nothing that counts."""
    echo = subprocess.Popen([sys.executable, "-m", "bench.echo_server"], stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout is not None
        yield f"127.0.0.1:{int(echo.stdout.readline())}"
    finally:
        echo.terminate()
        echo.wait(10)


@asynccontextmanager
async def bench_mesh(store: Path) -> AsyncIterator[BenchMesh]:
    agent = ServerProcess([sys.executable, "-m", "bench.bench_agent", "--host", "127.0.0.1", "--port", "0"])
    await agent.start()
    try:
        await wait_serving(f"127.0.0.1:{agent.port}")
        address = ["--host", "127.0.0.1", "--port", "0"]
        wiring = ["--store", str(store), "--agent", f"bench=127.0.0.1:{agent.port}"]
        gateway = ServerProcess([sys.executable, "-m", "agentmesh_cli", "gateway", *address, *wiring])
        await gateway.start()
        try:
            await wait_serving(f"127.0.0.1:{gateway.port}")
            yield BenchMesh(agent, gateway)
        finally:
            await gateway.stop()
    finally:
        await agent.stop()
