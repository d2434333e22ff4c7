"""`agentmesh.testing.SkillEnvironment` answers as the agent's gRPC server does: checked against the
same agent served on a loopback port, and with handlers written here to watch what they are given
(their metadata, their deadline, their cancellation)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime

import grpc
import pytest
from pydantic import BaseModel

from agentmesh import Agent, Context, Reply
from agentmesh.errors import DeadlineExceeded, InvalidInput
from agentmesh.messages import Message
from agentmesh.runtime import agent_host
from agentmesh.status import details_of
from agentmesh.testing import SkillEnvironment
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_services import load_agent, python_agents
from tests.support.samples import SAMPLES


@asynccontextmanager
async def served(agent: Agent) -> AsyncIterator[pb_grpc.AgentServiceAsyncStub]:
    """`agent` behind its real servicer on a loopback port, with the offline provider."""
    host = agent_host(agent, SkillEnvironment(agent).llm)
    port = await host.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            yield pb_grpc.AgentServiceStub(channel)
    finally:
        await host.stop(0.5)


def invoke_request(skill: str, data: dict[str, object]) -> pb.InvokeRequest:
    return pb.InvokeRequest(skill=skill, message=Message.request(data).to_proto())


@pytest.mark.parametrize("name", sorted(set(SAMPLES) & set(python_agents())))
async def test_invalid_input_raises_exactly_what_the_server_answers(name: str) -> None:
    agent, sample = load_agent(name), SAMPLES[name]
    with pytest.raises(InvalidInput) as here:
        await SkillEnvironment(agent).invoke(sample.skill, sample.invalid)
    async with served(agent) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as there:
            await stub.Invoke(invoke_request(sample.skill, sample.invalid), timeout=5)
    answered = details_of(there.value)
    assert answered.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (here.value.reason, str(here.value)) == (answered.reason, answered.message)
    assert here.value.violations == answered.violations


numbers = Agent("numbers")


@numbers.skill(
    "count", "Reply with a whole float and a tuple, which JSON on the wire turns into an int and a list."
)
async def count(data: object, ctx: Context) -> Reply:
    return Reply(text="counted", data={"score": 1.0, "items": ("a", "b")})


@numbers.skill("when", "Reply with a datetime, which no wire can carry.")
async def when(data: object, ctx: Context) -> Reply:
    return Reply(text="now", data={"at": datetime(2024, 1, 1)})


class Meeting(BaseModel):
    at: datetime


@numbers.skill("meet", "Take a datetime, which a caller can only send as a string.", input=Meeting)
async def meet(data: Meeting, ctx: Context) -> Reply:
    return Reply(text=data.at.isoformat())


async def test_the_reply_is_what_a_caller_reads_over_grpc() -> None:
    result = await SkillEnvironment(numbers).invoke("count", text="go")
    async with served(numbers) as stub:
        response = await stub.Invoke(invoke_request("count", {"text": "go"}), timeout=5)
    over_grpc = Message.from_proto(response.message)
    assert result.data == over_grpc.data == {"score": 1, "items": ["a", "b"]}
    assert type(result.data["score"]) is int
    assert result.text == over_grpc.text == "counted"
    assert result.reply.metadata == over_grpc.metadata


async def test_a_reply_the_server_cannot_send_fails_here_too() -> None:
    with pytest.raises(TypeError, match="datetime is not JSON-shaped"):
        await SkillEnvironment(numbers).invoke("when", text="go")
    async with served(numbers) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as there:
            await stub.Invoke(invoke_request("when", {"text": "go"}), timeout=5)
    assert there.value.code() == grpc.StatusCode.INTERNAL


async def test_input_no_caller_could_send_is_refused_as_the_client_refuses_it() -> None:
    with pytest.raises(TypeError, match="datetime is not JSON-shaped"):
        await SkillEnvironment(numbers).invoke("meet", {"at": datetime(2024, 1, 1)})
    result = await SkillEnvironment(numbers).invoke("meet", {"at": "2024-01-01T00:00:00"})
    assert result.text == "2024-01-01T00:00:00"


class Watched:
    """What a handler of `watcher` saw: that it started, its deadline, its cancellation."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.cancelled = False
        self.time_remaining: float | None = None


watcher = Agent("watcher")
WATCHED: dict[str, Watched] = {}


@watcher.skill("wait", "Wait until cancelled; with the text 'stubborn', answer anyway.")
async def wait(data: object, ctx: Context) -> Reply:
    seen = WATCHED[ctx.message.text]
    seen.time_remaining = ctx.time_remaining()
    seen.started.set()
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        seen.cancelled = True
        if ctx.message.text != "stubborn":
            raise
    return Reply(text="answered late")


@watcher.skill("own-timeout", "Time out on something of the handler's own.")
async def own_timeout(data: object, ctx: Context) -> Reply:
    async with asyncio.timeout(0.01):
        await asyncio.Event().wait()
    return Reply(text="unreachable")


@watcher.skill("look", "Answer with what the call carried and whether the caller streams.")
async def look(data: object, ctx: Context) -> Reply:
    await ctx.emit("first ")
    await ctx.emit("")  # nothing to send: never a chunk
    await ctx.emit("second")
    return Reply(text="looked", data={"metadata": dict(ctx.metadata), "streaming": ctx.streaming})


def watched(name: str) -> Watched:
    WATCHED[name] = Watched()
    return WATCHED[name]


async def test_cancelling_the_call_cancels_the_handler() -> None:
    seen = watched("cancel me")
    call = asyncio.create_task(SkillEnvironment(watcher).invoke("wait", text="cancel me"))
    await asyncio.wait_for(seen.started.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(call, 5)
    assert seen.cancelled and seen.time_remaining is None


async def test_a_passed_deadline_cancels_the_handler() -> None:
    seen = watched("deadline")
    with pytest.raises(DeadlineExceeded, match=r"did not answer within 0\.05s"):
        # wait_for only so that a harness ignoring its deadline fails instead of hanging
        await asyncio.wait_for(SkillEnvironment(watcher).invoke("wait", text="deadline", timeout=0.05), 5)
    assert seen.cancelled
    assert seen.time_remaining is not None and 0 < seen.time_remaining <= 0.05


async def test_a_handler_that_ignores_its_deadline_still_misses_it() -> None:
    seen = watched("stubborn")
    with pytest.raises(DeadlineExceeded, match=r"answered after its 0\.05s deadline"):
        await asyncio.wait_for(SkillEnvironment(watcher).invoke("wait", text="stubborn", timeout=0.05), 5)
    assert seen.cancelled


async def test_the_handlers_own_timeout_is_not_the_callers_deadline() -> None:
    with pytest.raises(TimeoutError) as caught:
        await SkillEnvironment(watcher).invoke("own-timeout", text="go", timeout=5)
    assert not isinstance(caught.value, DeadlineExceeded)


async def test_metadata_reaches_the_context_and_a_call_overrides_the_environment() -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    env = SkillEnvironment(
        watcher, metadata={"agentmesh-idempotency-key": "run/step/-/1", "traceparent": traceparent}
    )
    result = await env.invoke("look", text="go", metadata={"agentmesh-idempotency-key": "run/step/-/2"})
    assert result.data["metadata"] == {
        "agentmesh-idempotency-key": "run/step/-/2",
        "traceparent": traceparent,
    }


async def test_metadata_grpc_would_refuse_is_refused() -> None:
    with pytest.raises(ValueError, match="Agentmesh-Idempotency-Key"):
        await SkillEnvironment(watcher).invoke("look", text="go", metadata={"Agentmesh-Idempotency-Key": "k"})


async def test_only_a_streaming_call_gets_chunks() -> None:
    unary = await SkillEnvironment(watcher).invoke("look", text="go")
    assert (unary.chunks, unary.data["streaming"]) == ((), False)
    streamed = await SkillEnvironment(watcher).invoke("look", text="go", stream=True)
    assert (streamed.chunks, streamed.data["streaming"]) == (("first ", "second"), True)
