"""Whatever a caller sends any skill of any shipped agent, the answer is OK or INVALID_ARGUMENT.

Property tests: generated JSON (random values, and valid inputs mutated: fields missing,
retyped, added, huge, deeply nested, odd unicode) and generated raw bytes, sent to every
agent hosted in this test's loop on real ports with the offline LLM. An error must carry
ErrorInfo, and BadRequest field violations when the request decoded; UNKNOWN or INTERNAL
is a defect. The agent must answer health after every example.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, cast

import grpc
import pytest
import pytest_asyncio
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentmesh import health
from agentmesh.llm import provider_from_env
from agentmesh.messages import fill_struct
from agentmesh.runtime import AGENT_SERVICE, agent_host
from agentmesh.server import ServiceHost
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import message_pb2
from agentmesh_services import load_agent, python_agents
from tests.support.rpc import GET_AGENT_CARD, INVOKE, INVOKE_STREAM, first_answer
from tests.support.samples import SAMPLES, SKILL_INPUTS

# A valid input for every skill; mutations start from these.
VALID = {key: value for key, value in SKILL_INPUTS.items() if key[0] in python_agents()}
SKILLS = sorted(VALID)


@dataclass
class Mesh:
    hosts: dict[str, ServiceHost]
    channels: dict[str, grpc.aio.Channel]


@pytest_asyncio.fixture(scope="module")
async def mesh() -> AsyncIterator[Mesh]:
    hosts: dict[str, ServiceHost] = {}
    channels: dict[str, grpc.aio.Channel] = {}
    try:
        for name in python_agents():
            agent = load_agent(name)
            hosts[name] = agent_host(agent, provider_from_env(agent.composers, env={}))
            port = await hosts[name].start("127.0.0.1:0")
            channels[name] = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
        yield Mesh(hosts, channels)
    finally:
        for channel in channels.values():
            await channel.close()
        for host in hosts.values():
            await host.stop(1)


async def test_the_starting_inputs_cover_every_skill_and_are_valid(mesh: Mesh) -> None:
    # What keeps the properties below from holding vacuously: every skill is reached, from valid input.
    assert sorted((name, skill.id) for name in python_agents() for skill in load_agent(name).skills) == SKILLS
    for agent, skill in SKILLS:
        raw = request_bytes(skill, VALID[agent, skill])
        assert await first_answer(mesh.channels[agent], INVOKE, raw, streaming=False)


# JSON as a caller may send it. Struct holds numbers as doubles, so integers stay within them.
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats()
    | st.text(st.characters(codec="utf-8"), max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
huge_strings = st.builds(
    lambda char, size: char * size, st.characters(codec="utf-8"), st.integers(1_000, 300_000)
)
odd_unicode = st.text(
    st.sampled_from('\x00\u200b\u202e\ufeff\U0001f642\u0301e\u00e9\u4e2d\U00010348\x7f\n\t"\\%{}$')
    | st.characters(codec="utf-8"),
    min_size=1,
    max_size=60,
)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = {"n": value} if level % 2 else [value]
    return value


deep_values = st.integers(1, 80).map(nested)
replacements = json_values | huge_strings | odd_unicode | deep_values | st.just(math.nan)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside `value` a mutation may touch, the top included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, valid: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(data)))
        if not path:  # the top: add a field nobody declared
            data[draw(st.text(max_size=12))] = draw(replacements)
            continue
        *parents, last = path
        holder: Any = data
        for step in parents:
            holder = holder[step]
        if draw(st.booleans()) and isinstance(holder, dict):
            del holder[last]
        else:
            holder[last] = draw(replacements)
    return data


def inputs(target: tuple[str, str]) -> st.SearchStrategy[Any]:
    """JSON for `target`: its valid input mutated, or any JSON value at all."""
    return mutated(VALID[target]) | json_values


def request_bytes(skill: str, data: Any) -> bytes:
    """An InvokeRequest carrying `data`: an object as the data part, anything else as JSON text."""
    request = pb.InvokeRequest(skill=skill)
    part = request.message.parts.add()
    if isinstance(data, dict):
        part.data.SetInParent()
        fill_struct(part.data, data)
    else:
        part.text = json.dumps(data)
    return request.SerializeToString()


def decodes(raw: bytes, method: str) -> bool:
    message_type = pb.GetAgentCardRequest if method == GET_AGENT_CARD else pb.InvokeRequest
    try:
        message_type.FromString(raw)
    except DecodeError:
        return False
    return True


async def answered_well(channel: grpc.aio.Channel, method: str, raw: bytes) -> None:
    """`method` answers `raw` with OK or a well-formed INVALID_ARGUMENT, and health still answers."""
    try:
        await first_answer(channel, method, raw, streaming=method == INVOKE_STREAM)
    except grpc.aio.AioRpcError as error:
        details = details_of(error)
        assert details.code == grpc.StatusCode.INVALID_ARGUMENT, details
        assert details.domain == "agentmesh" and details.reason, details
        if decodes(raw, method):
            assert details.reason != "MALFORMED_REQUEST", details
            assert details.violations, details
        else:
            assert details.reason == "MALFORMED_REQUEST", details
    assert await health.check(channel, AGENT_SERVICE) == health.SERVING


def in_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, None]], None]:
    """Runs a coroutine in the test's loop from hypothesis's thread, waiting for it."""

    def run(coroutine: Coroutine[Any, Any, None]) -> None:
        asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)

    return run


# Derandomized: the same examples on every run and machine, so a failure reproduces as is.
def examples(count: int) -> settings:
    return settings(
        max_examples=count,
        deadline=None,
        derandomize=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


@pytest.mark.slow
async def test_any_json_input_is_answered_ok_or_invalid_argument(mesh: Mesh) -> None:
    run = in_loop(asyncio.get_running_loop())

    @examples(1000)
    @given(
        st.sampled_from(SKILLS).flatmap(lambda target: st.tuples(st.just(target), inputs(target))),
        st.booleans(),
    )
    def check(case: tuple[tuple[str, str], Any], streaming: bool) -> None:
        (agent, skill), data = case
        method = INVOKE_STREAM if streaming else INVOKE
        run(answered_well(mesh.channels[agent], method, request_bytes(skill, data)))

    await asyncio.to_thread(check)


async def test_any_bytes_are_answered_ok_or_invalid_argument(mesh: Mesh) -> None:
    run = in_loop(asyncio.get_running_loop())

    @examples(400)
    @given(
        st.sampled_from(python_agents()),
        st.sampled_from([INVOKE, INVOKE_STREAM, GET_AGENT_CARD]),
        st.binary(max_size=200)
        | st.builds(request_bytes, st.text(max_size=10), json_values).map(
            lambda raw: raw[: len(raw) // 2]  # a real request cut short
        ),
    )
    def check(agent: str, method: str, raw: bytes) -> None:
        run(answered_well(mesh.channels[agent], method, raw))

    await asyncio.to_thread(check)


@pytest.mark.parametrize("envelope", ["role", "type", "create_time"])
async def test_odd_envelope_fields_are_answered_invalid_argument(mesh: Mesh, envelope: str) -> None:
    request = pb.InvokeRequest.FromString(request_bytes("plan", SAMPLES["researcher"].valid))
    if envelope == "role":
        request.message.role = cast("message_pb2.Role.ValueType", 7)  # proto3 enums are open
    elif envelope == "type":
        request.message.type = cast("message_pb2.MessageType.ValueType", 9)
    else:
        request.message.create_time.seconds = 10**15
    await answered_well(mesh.channels["researcher"], INVOKE, request.SerializeToString())
