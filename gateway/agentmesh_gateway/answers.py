"""Answers to the questions agents ask in steps (A2A's input-required): checked, kept, recorded.

An answer is checked against the question's JSON Schema when it is given (ProvideInput), then
kept in the store until the gateway executing the run records it in the run's history
(StepInputProvided) and invokes the agent again; a turn of a question is answered once. Keeping
it in the store first is what lets an answer reach a run executed by another replica, or one
that waits with no gateway executing it (it is woken), and survive a crash in between.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jsonschema import Draft202012Validator

from agentmesh.errors import FieldViolation, InvalidInput, PermissionDenied, echo
from agentmesh.messages import Message
from agentmesh.v1 import message_pb2, run_pb2
from agentmesh_gateway.auth import Role, current_principal
from agentmesh_gateway.limits import MAX_RUN_INPUT_BYTES, LimitExceeded, check_value
from agentmesh_gateway.payloads import to_python
from agentmesh_gateway.state import RunState
from agentmesh_gateway.step_kinds import DEFAULT_ANSWER_ROLE
from agentmesh_gateway.store.base import PendingInput, RunStore

Record = Callable[..., Any]


def waiting_request(run: run_pb2.Run, step_id: str, item: int | None) -> run_pb2.InputRequest | None:
    """The question the step (and item) waits on, if any."""
    for step in run.steps:
        if step.step_id == step_id:
            for request in step.pending_input:
                if (request.item if request.HasField("item") else None) == item:
                    return request
    return None


def may_answer(request: run_pb2.InputRequest) -> None:
    """PermissionDenied unless the caller may answer the question: one of its principals when it
    names some, else a caller with its role (operators by default). Without authentication
    anyone may."""
    principal = current_principal.get()
    if principal is None:
        return
    if request.principals:
        if principal.name not in request.principals:
            raise PermissionDenied(
                f"{echo(principal.name)} may not answer this question; it is for "
                + ", ".join(request.principals),
                reason="NOT_AN_ANSWERER",
                metadata={"principal": principal.name},
            )
        return
    needed = Role.named(request.role or DEFAULT_ANSWER_ROLE) or Role.OPERATOR
    if not principal.may(needed):
        raise PermissionDenied(
            f"{echo(principal.name)} is a {principal.role.label},"
            f" and this question needs the {needed.label} role",
            reason="ROLE_REQUIRED",
            metadata={"principal": principal.name, "role": principal.role.label, "required": needed.label},
        )


def check_answer(request: run_pb2.InputRequest, answer: message_pb2.AgentMessage) -> None:
    """InvalidInput naming each field of the answer that does not fit the question's schema."""
    message = Message.from_proto(answer)
    data: dict[str, Any] = message.data
    if message.text and "text" not in data:
        data["text"] = message.text
    try:
        check_value(data, "answer", MAX_RUN_INPUT_BYTES)
    except LimitExceeded as exc:
        raise InvalidInput.field(
            "answer", str(exc).removeprefix("answer "), reason="INVALID_ANSWER"
        ) from None
    if not request.HasField("answer_schema"):
        return
    schema = to_python(request.answer_schema)
    errors = sorted(Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        violations = [
            FieldViolation(
                ".".join(["answer", *(str(p) for p in error.absolute_path)]), echo(error.message, 200)
            )
            for error in errors
        ]
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations[:5])
        raise InvalidInput(
            f"the answer does not fit the question's schema: {summary}", violations, reason="INVALID_ANSWER"
        )


async def record_answers(store: RunStore, state: RunState, record: Record) -> set[str]:
    """Record the run's pending answers that answer a question it waits on, then forget them all
    (a late answer to a turn answered already is dropped); the steps that got one."""
    pending = await store.pending_inputs(state.run.run_id)
    answered: set[str] = set()
    for answer in pending:
        asking = state.invocations.get((answer.step_id, answer.item))
        if asking is None or asking.asking is None or asking.asking.turn != answer.turn:
            continue
        provided = run_pb2.StepInputProvided(
            step_id=answer.step_id,
            attempt=asking.asking.attempt,
            turn=answer.turn,
            answer=message_pb2.AgentMessage.FromString(answer.answer),
            principal=answer.principal,
        )
        if answer.item is not None:
            provided.item = answer.item
        await record(step_input_provided=provided)
        answered.add(answer.step_id)
    if pending:
        await store.drop_inputs(pending)
    return answered


def pending(
    run_id: str, request: run_pb2.InputRequest, answer: message_pb2.AgentMessage, principal: str
) -> PendingInput:
    return PendingInput(
        run_id=run_id,
        step_id=request.step_id,
        item=request.item if request.HasField("item") else None,
        turn=request.turn,
        answer=answer.SerializeToString(),
        principal=principal,
    )
