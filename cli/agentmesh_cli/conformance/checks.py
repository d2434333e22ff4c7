"""The checks of the conformance kit: what any agent, in any language, must do on the wire.

Each check talks to the agent over gRPC as a stranger would: it knows the contract
(agentmesh.v1.AgentService, grpc.health.v1, reflection) and what the agent's card says,
nothing else. A check passes, or fails with a reason a person can act on.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import jsonschema
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from agentmesh import health
from agentmesh.messages import Message, struct_to_dict
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc

AGENT_SERVICE = "agentmesh.v1.AgentService"
HEALTH_SERVICE = "grpc.health.v1.Health"
#: Larger than any server may accept (16 MiB), to see it refused cleanly.
OVERSIZED_BYTES = 17 * 1024 * 1024
DEADLINE_TRIES = 20


class CheckFailed(Exception):
    """A check's finding: what the agent did instead of what the contract asks."""


@dataclass(frozen=True, slots=True)
class Result:
    check: str
    ok: bool
    detail: str = ""


@dataclass
class Subject:
    """The agent under test: a channel to it, and its card once read."""

    channel: grpc.aio.Channel
    stub: pb_grpc.AgentServiceAsyncStub
    card: pb.AgentCard | None = None


Check = Callable[[Subject], Awaitable[str]]


async def health_check(subject: Subject) -> str:
    for service in ("", AGENT_SERVICE):
        status = await health.check(subject.channel, service)
        if status != health.SERVING:
            raise CheckFailed(
                f"Health.Check({service!r}) is {health_pb2.HealthCheckResponse.ServingStatus.Name(status)}"
            )
    return 'SERVING for "" and agentmesh.v1.AgentService'


async def health_watch(subject: Subject) -> str:
    watching = health.watch(subject.channel, AGENT_SERVICE)
    try:
        first = await asyncio.wait_for(anext(watching), 5)
    finally:
        await watching.aclose()
    if first != health.SERVING:
        raise CheckFailed(f"Health.Watch first sent {first}, not SERVING")
    return "Watch sends the current status first"


async def reflection_lists(subject: Subject) -> str:
    call = subject.channel.stream_stream(
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
        response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
    )(timeout=5)
    await call.write(reflection_pb2.ServerReflectionRequest(list_services=""))
    response = await call.read()
    await call.done_writing()
    if not isinstance(response, reflection_pb2.ServerReflectionResponse):
        raise CheckFailed("reflection answered nothing")
    listed = {service.name for service in response.list_services_response.service}
    missing = {AGENT_SERVICE, HEALTH_SERVICE} - listed
    if missing:
        raise CheckFailed(f"reflection does not list {', '.join(sorted(missing))}")
    return f"lists {len(listed)} services"


async def card(subject: Subject) -> str:
    subject.card = (await subject.stub.GetAgentCard(pb.GetAgentCardRequest(), timeout=5)).card
    found = subject.card
    problems = [] if found.name else ["no name"]
    if not found.skills:
        problems.append("no skills")
    for skill in found.skills:
        for kind in ("input_schema", "output_schema"):
            schema = struct_to_dict(getattr(skill, kind))
            if schema.get("type") != "object":
                problems.append(f"skill {skill.id!r} has no {kind} of type object")
        if not skill.input_examples:
            problems.append(f"skill {skill.id!r} has no input example")
        for example in skill.input_examples:
            error = _invalid(struct_to_dict(example), struct_to_dict(skill.input_schema))
            if error:
                problems.append(f"an example of {skill.id!r} does not fit its input_schema: {error}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return f"{found.name}: {', '.join(s.id for s in found.skills)}"


async def invoke_examples(subject: Subject) -> str:
    invoked = 0
    for skill, example in _examples(subject):
        response = await subject.stub.Invoke(_request(skill.id, example), timeout=30)
        if response.HasField("input_required"):
            if not skill.asks_for_input:
                raise CheckFailed(f"{skill.id}: asked a question, but its card does not say asks_for_input")
            continue  # the multi-turn check follows the conversation
        if response.direct and not skill.direct_replies:
            # A gateway decides before the reply comes how to stream it over A2A, from the card.
            raise CheckFailed(
                f"{skill.id}: replied with a direct message, but its card does not say direct_replies"
            )
        data = Message.from_proto(response.message).data
        error = _invalid(data, struct_to_dict(skill.output_schema))
        if error:
            raise CheckFailed(f"{skill.id}: the reply's data does not fit its output_schema: {error}")
        invoked += 1
    return f"{invoked} example(s) answered with data that fits the output schema"


#: How many questions the multi-turn check answers before it calls it endless.
MAX_TURNS = 5
CONTEXT_ID = "conformance-conversation"


async def multi_turn(subject: Subject) -> str:
    """A skill that says it asks: its questions have text, keep the conversation's context_id and
    a usable answer schema, and given answers (with the conversation) it answers in the end."""
    asking = [(skill, example) for skill, example in _examples(subject) if skill.asks_for_input]
    if not asking:
        return "no skill says it asks for input"
    asked = 0
    for skill, example in asking:
        first = Message.request(example, sender="conformance", context_id=CONTEXT_ID).to_proto()
        conversation = [first]
        for _ in range(MAX_TURNS + 1):
            request = pb.InvokeRequest(skill=skill.id, message=conversation[-1], history=conversation[:-1])
            response = await subject.stub.Invoke(request, timeout=30)
            if not response.HasField("input_required"):
                error = _invalid(
                    Message.from_proto(response.message).data, struct_to_dict(skill.output_schema)
                )
                if error:
                    raise CheckFailed(f"{skill.id}: the answer after the conversation does not fit: {error}")
                break
            asked += 1
            question = response.message
            if not Message.from_proto(question).text:
                raise CheckFailed(f"{skill.id}: a question without text")
            if question.context_id != CONTEXT_ID:
                raise CheckFailed(f"{skill.id}: the question does not keep the conversation's context_id")
            schema = struct_to_dict(response.input_required.answer_schema)
            answer = _sample(schema) if schema else {"text": "yes"}
            error = _invalid(answer, schema) if schema else ""
            if error:
                raise CheckFailed(
                    f"{skill.id}: cannot answer the question: {error} (give its schema examples)"
                )
            conversation += [
                question,
                Message.request(answer, sender="conformance", context_id=CONTEXT_ID).to_proto(),
            ]
        else:
            raise CheckFailed(f"{skill.id}: still asking after {MAX_TURNS} answers")
    return f"{len(asking)} skill(s) asked {asked} question(s) and answered in the end"


def _sample(schema: dict[str, Any]) -> Any:
    """A value that fits a JSON Schema: its first example, default, const or enum value, or the
    least of its type (an object with only its required properties)."""
    for key in ("examples", "enum"):
        if schema.get(key):
            return schema[key][0]
    for key in ("default", "const"):
        if key in schema:
            return schema[key]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0] if kind else None
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties", {})
        return {name: _sample(properties.get(name, {})) for name in schema.get("required", [])}
    if kind == "array":
        return [_sample(schema.get("items", {})) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        least = schema.get("minimum", schema.get("exclusiveMinimum", -1) + 1)
        return int(least) if kind == "integer" else float(least)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "x" * max(1, int(schema.get("minLength", 1)))


async def invalid_input(subject: Subject) -> str:
    for skill, example in _examples(subject):
        schema = struct_to_dict(skill.input_schema)
        required = [name for name in schema.get("required", []) if name in example]
        if not required:
            continue
        broken = copy.deepcopy(example)
        del broken[required[0]]
        details = await _refused(subject.stub.Invoke(_request(skill.id, broken), timeout=10))
        _expect_invalid_argument(details, f"{skill.id} without {required[0]!r}")
        if required[0] not in [v.field.split(".")[0] for v in details.violations]:
            raise CheckFailed(f"{skill.id} without {required[0]!r}: no field violation names it")
        return f"{skill.id} without {required[0]!r}: INVALID_ARGUMENT naming the field"
    raise CheckFailed("no skill has a required input field to leave out")


async def unknown_skill(subject: Subject) -> str:
    details = await _refused(subject.stub.Invoke(_request("no-such-skill", {}), timeout=10))
    if (
        details.code not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
        or not details.reason
    ):
        raise CheckFailed(f"answered {details.code.name} without an ErrorInfo reason: {details.message}")
    return f"{details.code.name} ({details.reason})"


async def missing_message(subject: Subject) -> str:
    details = await _refused(subject.stub.Invoke(pb.InvokeRequest(), timeout=10))
    _expect_invalid_argument(details, "an Invoke without a message")
    if "message" not in [v.field for v in details.violations]:
        raise CheckFailed("an Invoke without a message: no field violation names 'message'")
    return "INVALID_ARGUMENT naming 'message'"


async def short_deadline(subject: Subject) -> str:
    """Calls with a 1 ms deadline end DEADLINE_EXCEEDED or in time, and the agent stays healthy.

    An agent may well answer within a millisecond (and grpc rounds deadlines that short),
    so answering in time is no failure. Nor is CANCELLED: grpc-go's server resets the stream
    (RST_STREAM CANCEL) when its own timer fires, which reaches a client whose timer has not
    fired yet as CANCELLED. Any other error is a failure.
    """
    skill, example = next(iter(_examples(subject)))
    codes: list[str] = []
    for _ in range(DEADLINE_TRIES):
        try:
            await subject.stub.Invoke(_request(skill.id, example), timeout=0.001)
            codes.append("OK")
        except grpc.aio.AioRpcError as exc:
            codes.append(exc.code().name)
    wrong = sorted(set(codes) - {"OK", "DEADLINE_EXCEEDED", "CANCELLED"})
    if wrong:
        raise CheckFailed(f"calls with a 1 ms deadline ended {', '.join(wrong)}")
    await _still_serving(subject)
    exceeded = codes.count("DEADLINE_EXCEEDED") + codes.count("CANCELLED")
    return f"{exceeded} of {DEADLINE_TRIES} ended at the deadline, the rest in time; still SERVING, answering"


async def stream_ends_with_one_result(subject: Subject) -> str:
    skill, example = next(iter(_examples(subject)))
    kinds = [
        event.WhichOneof("event")
        async for event in subject.stub.InvokeStream(
            pb.InvokeStreamRequest(message=_request(skill.id, example).message, skill=skill.id), timeout=30
        )
    ]
    if kinds.count("result") != 1 or kinds[-1] != "result":
        raise CheckFailed(
            f"the stream sent {kinds.count('result')} result(s), last event {kinds[-1] if kinds else None}"
        )
    return f"{kinds.count('chunk')} chunk(s), then one result"


async def oversized_input(subject: Subject) -> str:
    skill, _ = next(iter(_examples(subject)))
    details = await _refused(
        subject.stub.Invoke(_request(skill.id, {"text": "x" * OVERSIZED_BYTES}), timeout=30)
    )
    if details.code not in (grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT):
        raise CheckFailed(f"a {OVERSIZED_BYTES:,}-byte request gave {details.code.name}")
    await _still_serving(subject)
    return f"{details.code.name}, and the agent still SERVING and answering"


#: Every check, in the order they run; the card is read before the checks that use it.
CHECKS: list[tuple[str, Check]] = [
    ("health check", health_check),
    ("health watch", health_watch),
    ("reflection", reflection_lists),
    ("agent card", card),
    ("invoke examples", invoke_examples),
    ("invalid input", invalid_input),
    ("unknown skill", unknown_skill),
    ("missing message", missing_message),
    ("short deadline", short_deadline),
    ("stream result", stream_ends_with_one_result),
    ("multi-turn", multi_turn),
    ("oversized input", oversized_input),
]


def _examples(subject: Subject) -> list[tuple[pb.Skill, dict[str, Any]]]:
    if subject.card is None:
        raise CheckFailed("no card to take examples from")
    found = [
        (skill, struct_to_dict(example)) for skill in subject.card.skills for example in skill.input_examples
    ]
    if not found:
        raise CheckFailed("the card gives no example input")
    return found


def _request(skill: str, data: dict[str, Any]) -> pb.InvokeRequest:
    return pb.InvokeRequest(skill=skill, message=Message.request(data, sender="conformance").to_proto())


def _invalid(value: dict[str, Any], schema: dict[str, Any]) -> str:
    """Why `value` does not fit `schema` (JSON Schema), or empty if it does."""
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        return exc.message[:200]
    except jsonschema.SchemaError as exc:
        return f"the schema itself is invalid: {exc.message[:200]}"
    return ""


async def _refused(call: Awaitable[Any]) -> Any:
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return details_of(exc)
    raise CheckFailed("the call succeeded")


def _expect_invalid_argument(details: Any, what: str) -> None:
    if details.code != grpc.StatusCode.INVALID_ARGUMENT:
        raise CheckFailed(
            f"{what}: {details.code.name} instead of INVALID_ARGUMENT ({details.message[:100]})"
        )
    if details.domain != "agentmesh" or not details.reason:
        raise CheckFailed(f"{what}: no google.rpc.ErrorInfo with domain 'agentmesh'")
    if not details.violations:
        raise CheckFailed(f"{what}: no google.rpc.BadRequest field violation")


async def _still_serving(subject: Subject) -> None:
    if await health.check(subject.channel) != health.SERVING:
        raise CheckFailed("the server stopped SERVING afterwards")
    await subject.stub.GetAgentCard(pb.GetAgentCardRequest(), timeout=5)
