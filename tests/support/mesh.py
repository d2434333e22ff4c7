"""Test harness for the gateway: agents and the gateway as real subprocesses, and a client."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
from google.protobuf import json_format
from grpc_reflection.v1alpha import reflection_pb2

from agentmesh.client import AgentStatus, Client, RunHandle
from agentmesh.health import wait_serving
from agentmesh.messages import struct_to_dict
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_cli.launch import LocalMesh
from agentmesh_cli.process import ServerProcess

PROBE = Path(__file__).resolve().parent / "probe_agent.py"


def workflow(data: Mapping[str, Any]) -> workflow_pb2.Workflow:
    return json_format.ParseDict(dict(data), workflow_pb2.Workflow())


async def start_probe(log: Path, port: int = 0, label: str = "a") -> ServerProcess:
    """The probe agent as its own process; its records carry `label` to tell replicas apart."""
    env = {**os.environ, "PROBE_LOG": str(log), "PROBE_LABEL": label}
    probe = ServerProcess([sys.executable, str(PROBE), "--host", "127.0.0.1", "--port", str(port)], env)
    await probe.start()
    await wait_serving(f"127.0.0.1:{probe.port}")
    return probe


def probe_log(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def local_mesh(
    store: Path | str | None, agents: Mapping[str, Sequence[int]], extra: Sequence[str] = (), port: int = 0
) -> LocalMesh:
    """A gateway on loopback reaching agents already running on these ports."""
    mesh = LocalMesh(store, port=port, gateway_args=extra)
    for name, ports in agents.items():
        for agent_port in ports:
            mesh.add_remote(name, f"127.0.0.1:{agent_port}")
    return mesh


def gateway_process(
    store: Path | str | None, agents: Mapping[str, Sequence[int]], extra: Sequence[str] = (), port: int = 0
) -> ServerProcess:
    """`agentmesh gateway` as its own process, for tests that handle the process themselves."""
    return ServerProcess(local_mesh(store, agents, extra, port).gateway_command(), name="gateway")


@dataclass
class Gateway:
    """A gateway process and a client of it: tests talk to the gateway through the client only
    (wire-level tests send raw bytes over its channel)."""

    process: ServerProcess
    client: Client

    @property
    def channel(self) -> grpc.aio.Channel:
        return self.client.channel

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.process.port}"

    @property
    def wire(self) -> pb_grpc.OrchestratorServiceAsyncStub:
        """The raw stub, for tests of the wire itself: hostile requests, status trailers."""
        return pb_grpc.OrchestratorServiceStub(self.client.channel)

    async def start_run(
        self,
        flow: workflow_pb2.Workflow | str,
        inputs: Mapping[str, Any] | None = None,
        request_id: str = "",
        context: run_pb2.RunContext | None = None,
    ) -> RunHandle:
        shared = struct_to_dict(context.shared) if context is not None else None
        session = context.session_id if context is not None else ""
        return await self.client.start(flow, inputs, request_id=request_id, session_id=session, shared=shared)

    async def events(self, run_id: str, after: int = 0, timeout: float = 60) -> list[run_pb2.RunEvent]:
        """The run's events after `after` (as the wire carries them), following it to its end."""
        async with asyncio.timeout(timeout):
            return [event.proto async for event in self.client.handle(run_id).events(after)]

    async def get_run(self, run_id: str) -> run_pb2.Run:
        return (await self.client.get_run(run_id)).proto

    async def agents_when(
        self, ready: Callable[[Sequence[AgentStatus]], bool], timeout: float = 30
    ) -> Sequence[AgentStatus]:
        """ListAgents, polled until `ready` holds for what it reports."""
        async with asyncio.timeout(timeout):
            while not ready(agents := await self.client.list_agents()):
                await asyncio.sleep(0.05)
        return agents

    async def wait_for(
        self, run_id: str, kind: str, step_id: str | None = None, timeout: float = 30
    ) -> run_pb2.RunEvent:
        """The first event of `kind` (and of `step_id`, if given), following the run live."""
        async with asyncio.timeout(timeout):
            async for event in self.client.handle(run_id).events():
                body = event.proto
                if body.WhichOneof("event") == kind and (
                    step_id is None or getattr(body, kind).step_id == step_id
                ):
                    return body
        raise AssertionError(f"run {run_id} ended without a {kind} event")


@asynccontextmanager
async def running_gateway(
    store: Path | str | None, agents: Mapping[str, Sequence[int]], extra: Sequence[str] = (), port: int = 0
) -> AsyncIterator[Gateway]:
    async with local_mesh(store, agents, extra, port) as mesh:
        assert mesh.gateway is not None
        async with await Client.connect(mesh.target) as client:
            yield Gateway(mesh.gateway, client)


def kinds(events: Sequence[run_pb2.RunEvent]) -> list[str]:
    return [str(e.WhichOneof("event")) for e in events]


def records(workdir: Path, key: str) -> list[dict[str, Any]]:
    return [r for r in probe_log(workdir / "probe.jsonl") if r["key"] == key]


def step(id: str, skill: str, input: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": id, "agent": "probe", "skill": skill, "input": input, **extra}


class HasRunId(Protocol):
    @property
    def run_id(self) -> str: ...


async def finished(gateway: Gateway, run: HasRunId) -> tuple[run_pb2.Run, list[run_pb2.RunEvent]]:
    events = await gateway.events(run.run_id)
    return await gateway.get_run(run.run_id), events


async def list_services(channel: grpc.aio.Channel, version: str = "v1alpha") -> set[str]:
    """The service names a server lists through reflection (grpc.reflection.VERSION; v1's
    messages are v1alpha's on the wire)."""
    reflect = channel.stream_stream(
        f"/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )
    call = reflect(timeout=5)
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    assert isinstance(response, reflection_pb2.ServerReflectionResponse)
    return {service.name for service in response.list_services_response.service}


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`agentmesh ARGS` as a person runs it: a subprocess, output captured, never raising on exit codes."""
    return subprocess.run(
        [sys.executable, "-m", "agentmesh_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env or os.environ),
        check=False,
    )
