"""Required request fields: declared once in the protos, checked by one helper for every server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import Message

from agentmesh.messages import Message as AgentMessage
from agentmesh.required import missing_fields, required_fields
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import orchestrator_service_pb2 as pb
from tests.conftest import RunningAgent, running_agent
from tests.support import ROOT
from tests.support.mesh import Gateway, workflow

PROTOS = ROOT / "protos" / "agentmesh" / "v1"
SERVICES = [
    agent_pb.DESCRIPTOR.services_by_name["AgentService"],
    pb.DESCRIPTOR.services_by_name["OrchestratorService"],
]
REQUESTS = sorted({m.input_type for service in SERVICES for m in service.methods}, key=lambda d: d.full_name)


def declared_in_source() -> set[tuple[str, str]]:
    """(message, field) pairs the .proto files mark REQUIRED, read from their text."""
    found: set[tuple[str, str]] = set()
    for proto in PROTOS.glob("*.proto"):
        for message, body in re.findall(r"message (\w+) \{(.*?)\n\}", proto.read_text(), flags=re.DOTALL):
            for field in re.findall(r"(\w+) = \d+ \[\(google\.api\.field_behavior\) = REQUIRED\]", body):
                found.add((message, field))
    return found


def test_the_helper_finds_exactly_the_fields_the_protos_mark_required() -> None:
    found = {(d.name, f.name) for d in REQUESTS for f in required_fields(d)}
    assert found == declared_in_source()
    assert ("GetRunRequest", "run_id") in found and ("InvokeRequest", "message") in found


FILLED: dict[str, Message] = {
    "InvokeRequest": agent_pb.InvokeRequest(message=AgentMessage.request({"x": 1}).to_proto()),
    "InvokeStreamRequest": agent_pb.InvokeStreamRequest(message=AgentMessage.request({"x": 1}).to_proto()),
    "ValidateWorkflowRequest": pb.ValidateWorkflowRequest(workflow=workflow({"name": "w"})),
    "WatchRunRequest": pb.WatchRunRequest(run_id="r"),
    "GetRunRequest": pb.GetRunRequest(run_id="r"),
    "CancelRunRequest": pb.CancelRunRequest(run_id="r"),
    "ProvideInputRequest": pb.ProvideInputRequest(
        run_id="r", step_id="s", answer=AgentMessage.request({"x": 1}).to_proto()
    ),
    "ChatRequest": pb.ChatRequest(message="hi"),
    "ApplyWorkflowRequest": pb.ApplyWorkflowRequest(workflow=workflow({"name": "w"})),
    "GetWorkflowRequest": pb.GetWorkflowRequest(name="w"),
    "CreateScheduleRequest": pb.CreateScheduleRequest(schedule=pb.Schedule(name="s")),
    "GetScheduleRequest": pb.GetScheduleRequest(name="s"),
    "PauseScheduleRequest": pb.PauseScheduleRequest(name="s"),
    "ResumeScheduleRequest": pb.ResumeScheduleRequest(name="s"),
    "TriggerScheduleRequest": pb.TriggerScheduleRequest(name="s"),
    "DeleteScheduleRequest": pb.DeleteScheduleRequest(name="s"),
    "ChatStreamRequest": pb.ChatStreamRequest(message="hi"),
}


@pytest.mark.parametrize("name", sorted(FILLED))
def test_a_request_lacking_a_required_field_is_reported_and_a_full_one_is_not(name: str) -> None:
    filled = FILLED[name]
    assert missing_fields(filled) == []
    for field in required_fields(filled.DESCRIPTOR):
        lacking = type(filled)()
        lacking.CopyFrom(filled)
        lacking.ClearField(field.name)
        assert [v.field for v in missing_fields(lacking)] == [field.name]


def test_every_request_with_required_fields_is_covered_above() -> None:
    assert {d.name for d in REQUESTS if required_fields(d)} == set(FILLED)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda g: g.wire.GetRun(pb.GetRunRequest(), timeout=10), "run_id"),
        (lambda g: g.wire.CancelRun(pb.CancelRunRequest(reason="x"), timeout=10), "run_id"),
        (lambda g: g.wire.ValidateWorkflow(pb.ValidateWorkflowRequest(), timeout=10), "workflow"),
        (lambda g: g.wire.Chat(pb.ChatRequest(session_id="s"), timeout=10), "message"),
        (lambda g: g.wire.WatchRun(pb.WatchRunRequest(after_sequence=1), timeout=10).read(), "run_id"),
    ],
)
async def test_the_gateway_answers_a_missing_field_with_its_name(
    gateway: Gateway, call: object, field: str
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(gateway)  # type: ignore[operator]
    details = details_of(caught.value)
    assert (details.code, details.domain, details.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "agentmesh",
        "MISSING_REQUIRED_FIELD",
    )
    assert [(v.field, v.description) for v in details.violations] == [(field, "is required")]


@pytest_asyncio.fixture(scope="module")
async def researcher() -> AsyncIterator[RunningAgent]:
    async with running_agent("researcher") as running:
        yield running


async def test_an_agent_answers_a_request_without_a_message_with_its_name(researcher: RunningAgent) -> None:
    for call in (
        researcher.stub.Invoke(agent_pb.InvokeRequest(skill="plan"), timeout=10),
        researcher.stub.InvokeStream(agent_pb.InvokeStreamRequest(skill="plan"), timeout=10).read(),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        details = details_of(caught.value)
        assert details.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [v.field for v in details.violations] == ["message"]
