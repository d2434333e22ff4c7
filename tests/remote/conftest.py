"""Remote A2A agents (tests/support/a2a_agent.py, a2a-sdk's server) as their own processes, and
gateways whose mesh file names them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml

from agentmesh.client import ReplicaHealth
from agentmesh.v1 import workflow_pb2
from agentmesh_cli.process import ServerProcess
from tests.support.mesh import Gateway, running_gateway, workflow

A2A_AGENT = Path(__file__).resolve().parents[1] / "support" / "a2a_agent.py"
TOKEN = "s3cret-token"


@dataclass
class RemoteAgent:
    """An A2A agent process and the JSON lines it records."""

    process: ServerProcess
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    @property
    def card_url(self) -> str:
        return f"{self.base_url}/.well-known/agent-card.json"

    def records(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        entries = [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]
        return [
            e
            for e in entries
            if (event is None or e["event"] == event) and all(e.get(k) == v for k, v in match.items())
        ]

    async def recorded(self, event: str, timeout: float = 20, **match: Any) -> list[dict[str, Any]]:
        """The records of `event` (matching `match`), waiting for the first."""
        async with asyncio.timeout(timeout):
            while not (found := self.records(event, **match)):
                await asyncio.sleep(0.05)
        return found


async def start_a2a_agent(log: Path, env: Mapping[str, str] | None = None, port: int = 0) -> RemoteAgent:
    process = ServerProcess(
        [sys.executable, str(A2A_AGENT), "--port", str(port)],
        {**os.environ, "A2A_AGENT_LOG": str(log), **(env or {})},
        name="a2a-agent",
    )
    await process.start()
    return RemoteAgent(process, log)


def flow(agent: str, data: dict[str, Any], *, skill: str = "forecast", **extra: Any) -> workflow_pb2.Workflow:
    step = {"id": "ask", "agent": agent, "input": data, **extra}
    if skill:
        step["skill"] = skill
    return workflow({"name": "remote", "steps": [step]})


def mesh_file(path: Path, agents: Mapping[str, Any], store: Path | None = None) -> Path:
    data: dict[str, Any] = {"agents": dict(agents)}
    if store is not None:
        data["gateway"] = {"store": str(store)}
    path.write_text(yaml.safe_dump(data))
    return path


def config_args(mesh: Path) -> list[str]:
    return ["--config", str(mesh)]


@dataclass
class Remotes:
    """The package's agents (its modules share them): `weather` (every binding: gRPC chosen),
    `weather_rpc` (JSON-RPC only), `weather_rest` (HTTP+JSON only, no streaming: polled)."""

    weather: RemoteAgent
    rpc: RemoteAgent
    rest: RemoteAgent
    workdir: Path


@pytest_asyncio.fixture(scope="package")
async def remotes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Remotes]:
    workdir = tmp_path_factory.mktemp("remote")
    started = await asyncio.gather(
        start_a2a_agent(workdir / "weather.jsonl"),
        start_a2a_agent(workdir / "rpc.jsonl", {"A2A_AGENT_BINDINGS": "JSONRPC"}),
        start_a2a_agent(
            workdir / "rest.jsonl", {"A2A_AGENT_BINDINGS": "HTTP+JSON", "A2A_AGENT_STREAMING": "0"}
        ),
    )
    try:
        yield Remotes(*started, workdir=workdir)
    finally:
        await asyncio.gather(*(agent.process.stop() for agent in started))


@pytest_asyncio.fixture(scope="package")
async def gateway(remotes: Remotes) -> AsyncIterator[Gateway]:
    workdir = remotes.workdir
    (workdir / "weather.token").write_text(TOKEN + "\n")
    mesh = mesh_file(
        workdir / "mesh.yaml",
        {
            "weather": {"a2a": remotes.weather.card_url, "token_file": "weather.token"},
            "weather_rpc": {"a2a": remotes.rpc.base_url},  # the base URL: the card is found under it
            "weather_rest": remotes.rest.card_url,
        },
    )
    async with running_gateway(workdir / "gateway.db", {}, config_args(mesh)) as running:
        await running.agents_when(
            lambda agents: all(r.health == ReplicaHealth.SERVING for a in agents for r in a.replicas)
        )
        yield running
