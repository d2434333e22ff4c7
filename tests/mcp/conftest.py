"""A gateway with its HTTP port (MCP at /mcp) and the probe agent, as real processes, and MCP
clients of it (the `mcp` SDK's, over streamable HTTP)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from agentmesh.client import Client as MeshClient
from agentmesh.client import Run
from agentmesh_cli.process import ServerProcess
from tests.support.mesh import gateway_process, probe_log, start_probe, step

GREET: dict[str, Any] = {
    "name": "greet",
    "description": "Greets someone, twice.",
    "inputs": [
        {"name": "name", "description": "Who to greet.", "required": True},
        {"name": "greeting", "description": "What to say.", "default_value": "hello"},
    ],
    "steps": [
        step("first", "echo", {"key": "${inputs.name}", "value": "${inputs.greeting}"}),
        step("second", "echo", {"key": "${inputs.name}-again", "value": "${steps.first.output.value}"},
             dependencies=["first"]),
    ],
    "outputs": {"said": "${steps.second.output.value}", "who": "${steps.first.output.key}"},
}  # fmt: skip
SLOW: dict[str, Any] = {
    "name": "slow",
    "inputs": [{"name": "key", "required": True}],
    "steps": [step("wait", "echo", {"key": "${inputs.key}", "ms": 30_000})],
}
BROKEN: dict[str, Any] = {
    "name": "broken",
    "steps": [step("boom", "fail", {"code": "FAILED_PRECONDITION", "message": "told to fail"})],
}
ANYTHING: dict[str, Any] = {
    "name": "anything",
    "steps": [step("only", "echo", {"key": "anything", "value": 7})],
}
SPACED: dict[str, Any] = {"name": "report v2", "steps": [step("only", "echo", {"key": "report"})]}
ASKING: dict[str, Any] = {
    "name": "asking",
    "inputs": [{"name": "key", "required": True}],
    "steps": [step("pick", "ask", {"key": "${inputs.key}", "question": "Which plan?"})],
}
#: Its steps reply with files: text bytes, then (once the first is done) binary bytes and a link.
FILES: dict[str, Any] = {
    "name": "files",
    "inputs": [{"name": "key", "required": True}],
    "steps": [
        step("report", "file", {"key": "${inputs.key}", "content": "a report", "filename": "report.txt"}),
        step("chart", "file", {"key": "${inputs.key}-chart", "content": "", "bytes": 3,
                               "media_type": "image/png", "filename": "chart.png",
                               "url": "https://example.com/chart.png"},
             dependencies=["report"]),
    ],
    "outputs": {"key": "${steps.report.output.key}"},
}  # fmt: skip
WORKFLOWS = [GREET, SLOW, BROKEN, ANYTHING, SPACED, ASKING, FILES]


@dataclass
class McpGateway:
    process: ServerProcess
    probe: ServerProcess
    workdir: Path
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.process.logged('http listening')[0]['port']}/mcp"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.process.port}"

    @asynccontextmanager
    async def client(self, token: str | None = None, mode: str = "legacy") -> AsyncIterator[Client]:
        """An MCP client: `legacy` speaks a handshake protocol version (sessions, cancellation by
        notifications/cancelled); `auto` finds the 2026-07-28 one (no session)."""
        headers = {"Authorization": f"Bearer {token}"} if token else None
        async with (
            create_mcp_http_client(headers=headers) as http,
            Client(streamable_http_client(self.url, http_client=http), mode=mode) as client,
        ):
            yield client

    @asynccontextmanager
    async def mesh(self, token: str | None = None) -> AsyncIterator[MeshClient]:
        """A gRPC client, to check what MCP did from the gateway's own API."""
        async with await MeshClient.connect(self.target, token=token) as client:
            yield client

    def probe_records(self, key: str) -> list[dict[str, Any]]:
        return [r for r in probe_log(self.workdir / "probe.jsonl") if r["key"] == key]


def write_workflows(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for number, flow in enumerate(WORKFLOWS):
        (directory / f"flow{number}.yaml").write_text(json.dumps(flow))  # JSON is YAML
    return directory


@asynccontextmanager
async def mcp_gateway(
    workdir: Path, extra: Sequence[str] = (), store: Path | None = None
) -> AsyncIterator[McpGateway]:
    probe = await start_probe(workdir / "probe.jsonl")
    flows = write_workflows(workdir / "workflows")
    args = ["--http-port", "0", "--workflows", str(flows), *extra]
    process = gateway_process(store or workdir / "runs.db", {"probe": [probe.port]}, args)
    try:
        await process.start()
        yield McpGateway(process, probe, workdir)
    finally:
        await process.stop()
        await probe.stop()


@pytest_asyncio.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[McpGateway]:
    """A gateway without authentication."""
    async with mcp_gateway(tmp_path_factory.mktemp("mcp")) as running:
        yield running


async def run_when(client: MeshClient, run_id: str, done: Any, timeout: float = 20) -> Run:
    """The run, once `done(run)` holds."""
    async with asyncio.timeout(timeout):
        while not done(run := await client.get_run(run_id)):
            await asyncio.sleep(0.05)
    return run


async def logged_when(gateway: McpGateway, key: str, event: str, timeout: float = 20) -> None:
    """Wait until the probe agent recorded `event` for the call keyed `key`."""
    async with asyncio.timeout(timeout):
        while not any(r["event"] == event for r in gateway.probe_records(key)):
            await asyncio.sleep(0.05)
