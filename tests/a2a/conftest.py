"""A gateway serving A2A on its HTTP and gRPC ports, the probe agent behind it, and A2A clients
made with a2a-sdk (a client no one here wrote) for each binding."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
import pytest_asyncio
from a2a.client import Client, ClientCallContext, ClientConfig, create_client
from a2a.types import a2a_pb2 as a2a
from google.protobuf import struct_pb2

from agentmesh.client import Client as MeshClient
from agentmesh.messages import dict_to_struct
from agentmesh_cli.process import ServerProcess
from tests.support.mesh import gateway_process, start_probe

BINDINGS = ("JSONRPC", "HTTP+JSON", "GRPC")

#: A workflow the gateway serves as an A2A agent: two probe steps, one text input.
FLOW = """
name: greet-twice
description: Greets, then greets again.
inputs:
  - {name: who, required: true}
  - {name: ms, default_value: 0}
steps:
  - id: first
    agent: probe
    skill: echo
    input: {key: "${inputs.who}-1", value: "${inputs.who}"}
  - id: second
    agent: probe
    skill: echo
    dependencies: [first]
    input: {key: "${inputs.who}-2", value: "${steps.first.output.value}", ms: "${inputs.ms}"}
outputs:
  greeted: ${steps.second.output.value}
"""
#: A workflow whose step makes files: a workflow's task carries them as an artifact of their own.
FILES_FLOW = """
name: make-files
inputs:
  - {name: key, required: true}
steps:
  - id: make
    agent: probe
    skill: file
    input: {key: "${inputs.key}", content: made, filename: made.txt, url: "https://example.com/made.txt"}
outputs:
  key: ${steps.make.output.key}
"""


@dataclass
class A2AGateway:
    process: ServerProcess
    probe_log: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.process.logged('http listening')[0]['port']}"

    async def client(
        self,
        binding: str,
        path: str = "/a2a/agents/probe",
        headers: Mapping[str, str] | None = None,
        *,
        streaming: bool = True,
    ) -> Client:
        """A client of the agent at `path`, speaking only `binding`, found from its card; it
        sends messages with SendStreamingMessage, or SendMessage if not `streaming`."""
        config = ClientConfig(
            supported_protocol_bindings=[binding],
            streaming=streaming,
            httpx_client=httpx.AsyncClient(timeout=60, headers=dict(headers or {})),
            grpc_channel_factory=lambda url: grpc.aio.insecure_channel(url),
        )
        return await create_client(f"{self.http}{path}", client_config=config)


@pytest_asyncio.fixture(scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[A2AGateway]:
    workdir = tmp_path_factory.mktemp("a2a")
    (workdir / "flows").mkdir()
    (workdir / "flows" / "greet-twice.yaml").write_text(FLOW)
    (workdir / "flows" / "make-files.yaml").write_text(FILES_FLOW)
    probe = await start_probe(workdir / "probe.jsonl")
    gateway = gateway_process(
        workdir / "runs.db",
        {"probe": [probe.port]},
        ["--http-port", "0", "--workflows", str(workdir / "flows")],
    )
    await gateway.start()
    try:
        # The probe's card (its skills, which its A2A card shows) is read once it is SERVING.
        async with await MeshClient.connect(f"127.0.0.1:{gateway.port}") as mesh, asyncio.timeout(30):
            while not any(agent.skills for agent in await mesh.list_agents()):
                await asyncio.sleep(0.05)
        yield A2AGateway(gateway, workdir / "probe.jsonl")
    finally:
        await gateway.stop()
        await probe.stop()


def message(
    data: Mapping[str, Any] | None = None,
    *,
    text: str = "",
    message_id: str = "",
    task_id: str = "",
    context_id: str = "",
    metadata: Mapping[str, Any] | None = None,
) -> a2a.Message:
    out = a2a.Message(
        message_id=message_id or uuid.uuid4().hex,
        role=a2a.ROLE_USER,
        task_id=task_id,
        context_id=context_id,
    )
    if data is not None:
        out.parts.add(data=struct_pb2.Value(struct_value=dict_to_struct(dict(data))))
    if text:
        out.parts.add(text=text)
    if metadata:
        out.metadata.update(dict(metadata))
    return out


def call_context(**parameters: str) -> ClientCallContext:
    return ClientCallContext(service_parameters=dict(parameters))


@pytest.fixture(params=BINDINGS)
def binding(request: pytest.FixtureRequest) -> str:
    return str(request.param)
