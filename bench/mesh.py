"""What the benchmarks measure, as child processes on loopback: the raw echo server (the floor),
and the bench agent with a gateway and its SQLite store."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from agentmesh_cli.launch import LocalMesh
from agentmesh_cli.process import ServerProcess


@dataclass(frozen=True)
class BenchMesh:
    agent: ServerProcess
    gateway: ServerProcess

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.gateway.port}"

    @property
    def http_port(self) -> int:
        """The gateway's HTTP port (when it was started with --http-port)."""
        return int(self.gateway.logged("http listening")[0]["port"])


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
async def bench_mesh(store: Path | str, gateway_args: Sequence[str] = ()) -> AsyncIterator[BenchMesh]:
    """The bench agent and a gateway, brought up as `agentmesh up` does."""
    mesh = LocalMesh(store, gateway_args=gateway_args)
    agent = mesh.add_agent(
        "bench",
        process=ServerProcess(
            [sys.executable, "-m", "bench.bench_agent", "--host", "127.0.0.1", "--port", "0"]
        ),
    )
    async with mesh:
        assert mesh.gateway is not None
        yield BenchMesh(agent, mesh.gateway)
