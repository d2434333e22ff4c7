"""The same hostile bytes get the same answer from an agent in Python, Go and TypeScript.

Requests a runtime cannot decode (corrupt or truncated bytes, invalid UTF-8 in any string, a
Struct key included, messages nested past the documented 100 levels as protobuf's reference
decoder counts them) are INVALID_ARGUMENT with ErrorInfo reason MALFORMED_REQUEST, the method in
its metadata and the same message, never INTERNAL; what decodes in one runtime decodes in all.
Each agent runs as its own process, as `agentmesh agent` starts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmesh.health import SERVING, check
from agentmesh.messages import dict_to_struct
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as pb
from tests.conftest import RunningAgent, running_agent
from tests.support.rpc import GET_AGENT_CARD, HEALTH_CHECK, HEALTH_WATCH, INVOKE, INVOKE_STREAM, first_answer
from tests.support.samples import SAMPLES

RUNTIMES = {"python": "researcher", "go": "trend-scanner", "typescript": "video-scriptor"}
REFLECTION = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
STREAMING = {INVOKE_STREAM, HEALTH_WATCH, REFLECTION}
#: Eleven bytes to find in an encoded request and swap for as many that are not UTF-8.
MARK, NOT_UTF8 = b"PLACEHOLDER", b"PLAC\xff\xfeOLDER"


@dataclass(frozen=True)
class Answer:
    """What a call got: OK, or its status as a caller reads it."""

    code: grpc.StatusCode
    reason: str = ""
    message: str = ""
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def malformed(self) -> bool:
        return self.reason == "MALFORMED_REQUEST"


OK = Answer(grpc.StatusCode.OK)


async def answer(channel: grpc.aio.Channel, method: str, request: bytes) -> Answer:
    try:
        await first_answer(channel, method, request, streaming=method in STREAMING)
    except grpc.aio.AioRpcError as error:
        details = details_of(error)
        return Answer(details.code, details.reason, details.message, tuple(sorted(details.metadata.items())))
    return OK


@pytest_asyncio.fixture(scope="module")
async def agents() -> AsyncIterator[dict[str, RunningAgent]]:
    async with (
        running_agent(RUNTIMES["python"]) as python,
        running_agent(RUNTIMES["go"]) as go,
        running_agent(RUNTIMES["typescript"]) as typescript,
    ):
        yield {"python": python, "go": go, "typescript": typescript}


def valid_request(name: str, **extra: Any) -> pb.InvokeRequest:
    sample = SAMPLES[name]
    request = pb.InvokeRequest(skill=sample.skill)
    request.message.parts.add().data.CopyFrom(dict_to_struct({**sample.valid, **extra}))
    return request


def nested(name: str, levels: int, *, lists: bool = False) -> bytes:
    """The agent's valid input plus a key its schema does not know, nested `levels` deep: as
    Structs (three protobuf levels each: Struct, map entry, Value) or lists (two: ListValue, Value).

    The key's Value is at level 6 (InvokeRequest, AgentMessage, Part, Struct, map entry, Value),
    so the last Value is at 6 + 3 * levels (Structs) or 6 + 2 * levels (lists): 31 Structs or
    47 lists reach level 100 exactly, and one more is past it."""
    request = valid_request(name)
    value = request.message.parts[0].data.fields["deeper"]
    for _ in range(levels):
        value = value.list_value.values.add() if lists else value.struct_value.fields["deeper"]
    value.string_value = "bottom"
    return request.SerializeToString()


def not_utf8(name: str, where: str) -> bytes:
    request = valid_request(name)
    placeholder = MARK.decode()
    if where == "skill":
        request.skill = placeholder
    elif where == "message_id":
        request.message.message_id = placeholder
    elif where == "text part":
        request.message.parts.add().text = placeholder
    elif where == "struct key":
        request.message.parts[0].data.fields[placeholder].string_value = "v"
    else:
        request.message.parts[0].data.fields["note"].string_value = placeholder
    raw = request.SerializeToString()
    assert raw.count(MARK) == 1
    return raw.replace(MARK, NOT_UTF8)


def hostile(name: str) -> dict[str, tuple[str, bytes]]:
    """Requests every runtime must refuse as malformed, by what is wrong with them."""
    valid = valid_request(name).SerializeToString()
    cases = {
        "garbage": (INVOKE, b"\xff" * 11),
        "a field longer than the message": (INVOKE, b"\x0a\x7fshort"),
        "truncated": (INVOKE, valid[: len(valid) // 2]),
        "corrupt tag": (INVOKE, b"\x00" + valid),
        "structs 32 deep": (INVOKE, nested(name, 32)),
        "structs 32 deep, streamed": (INVOKE_STREAM, nested(name, 32)),
        "lists 48 deep": (INVOKE, nested(name, 48, lists=True)),
        "structs 1,000 deep under an unknown key": (INVOKE, nested(name, 1000)),
        "structs 6,000 deep": (INVOKE_STREAM, nested(name, 6000)),
        "garbage agent card request": (GET_AGENT_CARD, b"\xff" * 11),
        "garbage health check": (HEALTH_CHECK, b"\xff" * 11),
        "garbage health watch": (HEALTH_WATCH, b"\x0a\x7fshort"),
        "health check naming no UTF-8": (HEALTH_CHECK, b"\x0a\x02\xff\xfe"),
        "garbage reflection request": (REFLECTION, b"\xff" * 11),
    }
    for where in ("skill", "message_id", "text part", "struct key", "struct value"):
        cases[f"invalid UTF-8 in a {where}"] = (INVOKE, not_utf8(name, where))
    return cases


async def test_every_runtime_refuses_the_same_requests_with_the_same_answer(
    agents: dict[str, RunningAgent],
) -> None:
    answers: dict[str, dict[str, Answer]] = {}
    for runtime, agent in agents.items():
        answers[runtime] = {
            case: await answer(agent.channel, method, request)
            for case, (method, request) in hostile(agent.name).items()
        }
        assert await check(agent.channel) == SERVING
    for case, (method, _) in hostile("researcher").items():
        seen = {runtime: answers[runtime][case] for runtime in agents}
        assert len(set(seen.values())) == 1, (case, seen)
        refused = seen["python"]
        assert refused.code == grpc.StatusCode.INVALID_ARGUMENT and refused.malformed, (case, refused)
        assert refused.metadata == (("method", method),), (case, refused)
        assert "nested more than 100 levels deep" in refused.message, (case, refused)
    for agent in agents.values():
        logged = agent.process.logged("malformed request")
        assert logged and {entry["level"] for entry in logged} == {"warning"}, agent.name
        assert not [entry for entry in agent.process.logs if entry.get("level") == "error"], agent.name


async def test_nesting_up_to_the_bound_decodes_in_every_runtime(agents: dict[str, RunningAgent]) -> None:
    for agent in agents.values():
        for request in (nested(agent.name, 31), nested(agent.name, 47, lists=True)):
            assert await answer(agent.channel, INVOKE, request) == OK, agent.name
        reflection = reflection_pb2.ServerReflectionRequest(list_services="*").SerializeToString()
        assert await answer(agent.channel, REFLECTION, reflection) == OK, agent.name
        health = health_pb2.HealthCheckRequest(service="").SerializeToString()
        assert await answer(agent.channel, HEALTH_CHECK, health) == OK, agent.name


def upb_decodes(raw: bytes) -> bool:
    try:
        pb.InvokeRequest.FromString(raw)
    except DecodeError:
        return False
    return True


def in_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, None]], None]:
    def run(coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    return run


@pytest.mark.slow
async def test_any_bytes_decode_in_all_runtimes_or_in_none(agents: dict[str, RunningAgent]) -> None:
    run = in_loop(asyncio.get_running_loop())
    valid = valid_request("researcher").SerializeToString()

    async def same_verdict(raw: bytes) -> None:
        for agent in agents.values():
            got = await answer(agent.channel, INVOKE, raw)
            assert got.code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), (agent.name, got)
            # upb, the reference decoder, says what decodes: every runtime agrees with it.
            assert got.malformed is not upb_decodes(raw), (agent.name, raw, got)

    @settings(
        max_examples=300,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        st.binary(max_size=120)
        | st.integers(0, len(valid)).map(lambda cut: valid[:cut])
        | st.tuples(st.integers(0, len(valid) - 1), st.integers(0, 255)).map(
            lambda flip: valid[: flip[0]] + bytes([flip[1]]) + valid[flip[0] + 1 :]
        )
    )
    def check_bytes(raw: bytes) -> None:
        run(same_verdict(raw))

    await asyncio.to_thread(check_bytes)


@pytest.mark.parametrize("runtime", RUNTIMES)
async def test_a_burst_of_malformed_requests_logs_a_line_or_two(runtime: str) -> None:
    async with running_agent(RUNTIMES[runtime]) as agent:
        answers = await asyncio.gather(
            *(answer(agent.channel, GET_AGENT_CARD, b"\xff" * 11) for _ in range(100))
        )
        assert {a.reason for a in answers} == {"MALFORMED_REQUEST"}
        # Log lines arrive on stderr behind the answers: an invalid input's line marks the end.
        sample = SAMPLES[agent.name]
        with pytest.raises(grpc.aio.AioRpcError):
            await agent.invoke(sample.skill, sample.invalid)
        async with asyncio.timeout(10):
            while not agent.process.logged("rpc failed"):
                await asyncio.sleep(0.02)
        burst = agent.process.logged("malformed request")
    # One line per method per 10 s (a second if the burst straddles an interval); the rest counted.
    assert 1 <= len(burst) <= 2, burst
    assert {entry["level"] for entry in burst} == {"warning"}
