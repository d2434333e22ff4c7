"""Requests protobuf cannot decode: answered INVALID_ARGUMENT, logged sparingly, the server unharmed."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio
from grpc_health.v1 import health, health_pb2_grpc

from agentmesh import health as health_client
from agentmesh.calls import HostedCalls
from agentmesh.status import HostState, details_of
from agentmesh.v1 import orchestrator_service_pb2 as gateway_pb
from tests.conftest import RunningAgent, running_agent
from tests.support.mesh import Gateway, kinds, step, workflow
from tests.support.rpc import (
    GET_AGENT_CARD,
    HEALTH_CHECK,
    HEALTH_WATCH,
    INVOKE,
    INVOKE_STREAM,
    first_answer,
    log_records,
    nested_invoke_request,
    raw_unary,
)
from tests.support.samples import SAMPLES

# Bytes no protobuf message decodes from: a varint that never ends, a field longer than the message.
GARBAGE = (b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", b"\x0a\x7fshort")
# Words grpc's own answer carried: a Python exception's class and text.
PYTHON_WORDS = ("class", "Error", "Exception", "Traceback", "upb", "google.protobuf")

STREAMING = {INVOKE_STREAM, HEALTH_WATCH, "/agentmesh.v1.OrchestratorService/RunWorkflow"}
STREAMING |= {"/agentmesh.v1.OrchestratorService/WatchRun"}


@pytest_asyncio.fixture(scope="module")
async def researcher() -> AsyncIterator[RunningAgent]:
    async with running_agent("researcher") as running:
        yield running
    assert running.process.returncode == 0


async def assert_malformed(channel: grpc.aio.Channel, method: str, request: bytes) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await first_answer(channel, method, request, streaming=method in STREAMING)
    details = details_of(caught.value)
    assert (details.code, details.domain, details.reason) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "agentmesh",
        "MALFORMED_REQUEST",
    ), (method, details)
    assert details.metadata == {"method": method}
    assert not [word for word in PYTHON_WORDS if word in details.message], details.message


async def test_undecodable_requests_are_invalid_argument_and_the_agent_keeps_serving(
    researcher: RunningAgent,
) -> None:
    too_deep = nested_invoke_request(40)
    methods = (INVOKE, INVOKE_STREAM, GET_AGENT_CARD, HEALTH_CHECK, HEALTH_WATCH)
    for method in methods:
        for request in GARBAGE:
            await assert_malformed(researcher.channel, method, request)
    for method in (INVOKE, INVOKE_STREAM):
        await assert_malformed(researcher.channel, method, too_deep)

    assert await health_client.check(researcher.channel) == health_client.SERVING
    sample = SAMPLES["researcher"]
    response = await researcher.invoke(sample.skill, sample.valid)
    assert response.message.parts
    # Nested within the limit, the same request decodes and is answered (the extra field ignored).
    assert await raw_unary(researcher.channel, INVOKE)(nested_invoke_request(30), timeout=20)

    logged = researcher.process.logs
    assert not [entry for entry in logged if entry.get("level") == "error" or "exception" in entry]
    warnings = researcher.process.logged("malformed request")
    assert warnings and {entry["level"] for entry in warnings} == {"warning"}
    # The first of each method is logged; the rest of the same method, within 10 s, are held back.
    per_method = Counter(entry["method"] for entry in warnings)
    assert set(per_method) == set(methods) and max(per_method.values()) <= 2, per_method


async def test_a_burst_of_malformed_requests_logs_a_line_or_two(researcher: RunningAgent) -> None:
    before = len(researcher.process.logs)
    invoke = raw_unary(researcher.channel, INVOKE)
    answers = await asyncio.gather(
        *(invoke(GARBAGE[0], timeout=20) for _ in range(200)), return_exceptions=True
    )

    # An invalid input logs one "rpc failed" line; once it is read, every line before it was.
    sample = SAMPLES["researcher"]
    failed_before = len(researcher.process.logged("rpc failed"))
    with pytest.raises(grpc.aio.AioRpcError):
        await researcher.invoke(sample.skill, sample.invalid)
    async with asyncio.timeout(10):
        while len(researcher.process.logged("rpc failed")) == failed_before:
            await asyncio.sleep(0.02)
    burst = researcher.process.logs[before:]
    burst = burst[: next(i for i, e in enumerate(burst) if e.get("msg") == "rpc failed")]
    # One line per method per 10 s; a second only if the burst straddles an interval.
    assert len(burst) <= 2, burst
    assert {entry["msg"] for entry in burst} <= {"malformed request"}
    codes = {a.code() if isinstance(a, grpc.aio.AioRpcError) else a for a in answers}
    assert codes == {grpc.StatusCode.INVALID_ARGUMENT}


async def test_held_back_warnings_are_counted_in_the_next_line() -> None:
    server = grpc.aio.server(interceptors=[HostedCalls(HostState(), log_interval=1.0)])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            with log_records("agentmesh.rpc", logging.WARNING) as records:
                for _ in range(5):
                    await assert_malformed(channel, HEALTH_CHECK, GARBAGE[0])
                await asyncio.sleep(1.05)  # past the interval: the next one is logged
                await assert_malformed(channel, HEALTH_CHECK, GARBAGE[1])
    finally:
        await server.stop(0)
    lines = [(r.getMessage(), getattr(r, "suppressed", None), r.exc_info) for r in records]
    assert all(message == "malformed request" and exc is None for message, _, exc in lines)
    # Every request is either a line or counted by a later one; the first is always a line.
    suppressed = [count for _, count, _ in lines]
    assert suppressed[0] == 0
    assert len(lines) + sum(count or 0 for count in suppressed) == 6
    assert len(lines) < 6


async def test_the_gateway_answers_malformed_requests_and_still_streams_runs(gateway: Gateway) -> None:
    service = "/agentmesh.v1.OrchestratorService/"
    for rpc in ("RunWorkflow", "WatchRun", "StartRun", "GetRun", "ValidateWorkflow"):
        for request in GARBAGE:
            await assert_malformed(gateway.channel, service + rpc, request)
    # RunWorkflow and WatchRun answer with pre-encoded bytes; a decoded request still gets them.
    flow = workflow({"name": "one", "steps": [step("a", "echo", {"key": "malformed-then-fine"})]})
    events = [
        response.event
        async for response in gateway.wire.RunWorkflow(
            gateway_pb.RunWorkflowRequest(workflow=flow), timeout=30
        )
    ]
    assert kinds(events)[-1] == "run_completed"
    replayed = await gateway.events(events[0].run_id)
    assert [e.sequence for e in replayed] == [e.sequence for e in events]
