"""Shared fixtures: agents started as real subprocesses through the CLI; a probe agent behind a gateway."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
import pytest_asyncio

from agentmesh.health import wait_serving
from agentmesh.messages import Message
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_cli.process import ServerProcess
from tests.support.mesh import Gateway, running_gateway, start_probe
from tests.support.postgres import create_database, postgres_server


@dataclass
class RunningAgent:
    name: str
    process: ServerProcess
    channel: grpc.aio.Channel

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.process.port}"

    @property
    def stub(self) -> pb_grpc.AgentServiceAsyncStub:
        return pb_grpc.AgentServiceStub(self.channel)

    async def invoke(self, skill: str, data: Mapping[str, Any], timeout: float = 20) -> pb.InvokeResponse:
        request = pb.InvokeRequest(skill=skill, message=Message.request(data).to_proto())
        return await self.stub.Invoke(request, timeout=timeout)


@asynccontextmanager
async def running_agent(name: str, env: Mapping[str, str] | None = None) -> AsyncIterator[RunningAgent]:
    """`agentmesh agent NAME --port 0` as a subprocess, SERVING, with a channel; stopped by SIGTERM."""
    process = ServerProcess.agent(name, env={**os.environ, **(env or {})})
    await process.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{process.port}")
    try:
        await wait_serving(f"127.0.0.1:{process.port}")
        yield RunningAgent(name, process, channel)
    finally:
        await channel.close()
        await process.stop()


async def logged_soon(process: ServerProcess, msg: str, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The entries logged with `msg`, waiting for the first one to arrive."""
    async with asyncio.timeout(timeout):
        while not process.logged(msg):
            await asyncio.sleep(0.02)
    return process.logged(msg)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gateway")


@pytest_asyncio.fixture(scope="module")
async def gateway(workdir: Path) -> AsyncIterator[Gateway]:
    probe = await start_probe(workdir / "probe.jsonl")
    try:
        # With its metrics: tests of hostile requests read how long its event loop was held.
        metrics = ["--metrics-port", "0"]
        async with running_gateway(workdir / "gateway.db", {"probe": [probe.port]}, metrics) as running:
            yield running
    finally:
        await probe.stop()


_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture
def postgres_database(postgres_url: str) -> str:
    """The URL of a new, empty database on the session's server."""
    return create_database(postgres_url, f"test_{next(_databases)}")
