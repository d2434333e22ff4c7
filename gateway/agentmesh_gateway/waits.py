"""Steps that wait with no agent to call: a question to a person (`ask`) and a timer (`sleep`,
`until`).

Both record what they wait for before waiting, so that a restart or another replica waits for
the same thing: a sleep its due time (StepSleeping), a question itself with its deadline
(StepInputRequired). While they wait the step is parked: the run holds nothing once every step
left waits, and the gateway's alarm wakes it when a timer is due. A question that times out takes
its default answer (recorded as StepInputProvided with `timed_out`), or fails the step.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from google.protobuf import timestamp_pb2

from agentmesh.messages import DataPart, Message, MessageType, Role, TextPart
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway import templates
from agentmesh_gateway.expressions import ExpressionError
from agentmesh_gateway.failures import Parked, StepError, run_error
from agentmesh_gateway.invoker import check_completion
from agentmesh_gateway.payloads import to_python, to_struct
from agentmesh_gateway.state import RunState
from agentmesh_gateway.step_kinds import (
    DEFAULT_ANSWER_ROLE,
    answer_schema,
    as_duration,
    parse_duration,
    parse_time,
)

Record = Callable[..., Awaitable[None]]
#: Who a timed-out question's default answer is recorded as coming from.
TIMEOUT_PRINCIPAL = "agentmesh:timeout"


class Waits:
    def __init__(self, state: RunState, record: Record) -> None:
        self.state = state
        self._record = record

    async def sleep(self, step: workflow_pb2.Step) -> None:
        """Complete the step once its due time has passed; Parked until then."""
        recorded = self.state.steps[step.id]
        if recorded.HasField("wake_time"):
            due = _seconds(recorded.wake_time)
        else:
            due = self._due(step)
            sleeping = run_pb2.StepSleeping(step_id=step.id, wake_time=_timestamp(due))
            await self._record(step_sleeping=sleeping)
        if time.time() < due:
            raise Parked(wake_at=due, answer=False)
        woke = datetime.fromtimestamp(due, UTC).isoformat().replace("+00:00", "Z")
        completed = run_pb2.StepCompleted(step_id=step.id, text=f"slept until {woke}")
        output = {"woke_at": woke}
        check_completion(self.state, completed, output)
        await self._record(output, step_completed=completed)

    def _due(self, step: workflow_pb2.Step) -> float:
        """When the sleep ends (seconds since the epoch), from `sleep` or `until`."""
        field, text = ("sleep", step.sleep) if step.sleep else ("until", step.until)
        try:
            value: Any = templates.resolve(text, self.state.scope(), field) if "${" in text else text
            if field == "sleep":
                seconds = as_duration(value) if "${" in text else parse_duration(value)
                return time.time() + seconds
            return parse_time(value).timestamp()
        except (ExpressionError, ValueError) as exc:
            error = run_error(
                "INVALID_ARGUMENT", f"{field}: {exc}", reason="EXPRESSION_FAILED", step_id=step.id
            )
            raise StepError(error, attempt=0) from None

    async def ask(self, step: workflow_pb2.Step) -> None:
        """Complete the step with the answer once it comes (or its default once it times out);
        Parked until then."""
        invocation = self.state.invocation(step.id, None)
        if invocation.done:
            return
        if not invocation.turns and invocation.asking is None:
            await self._record(step_input_required=run_pb2.StepInputRequired(request=self._question(step)))
        asking = invocation.asking
        if asking is not None:
            deadline = _seconds(asking.deadline) if asking.HasField("deadline") else None
            if deadline is None or time.time() < deadline:
                raise Parked(wake_at=deadline)
            await self._time_out(step, asking)
        _, answer = invocation.turns[-1]
        reply = Message.from_proto(answer)
        output: Any = reply.data if reply.data else reply.text
        completed = run_pb2.StepCompleted(step_id=step.id, text=reply.text)
        check_completion(self.state, completed, output)
        await self._record(output, step_completed=completed)

    def _question(self, step: workflow_pb2.Step) -> run_pb2.InputRequest:
        ask = step.ask
        try:
            text = templates.resolve(ask.question, self.state.scope(), "the question")
        except ExpressionError as exc:
            error = run_error(
                "INVALID_ARGUMENT", f"ask.question: {exc}", reason="EXPRESSION_FAILED", step_id=step.id
            )
            raise StepError(error, attempt=0) from None
        question = Message(
            parts=(TextPart(str(text)),),
            sender=f"workflow:{self.state.run.workflow.name}",
            role=Role.AGENT,
            type=MessageType.RESPONSE,
            context_id=self.state.run.run_id,
        ).to_proto()
        request = run_pb2.InputRequest(
            step_id=step.id,
            attempt=1,
            question=question,
            role=ask.role or DEFAULT_ANSWER_ROLE,
            principals=ask.principals,
        )
        schema = answer_schema(ask)
        if schema is not None:
            request.answer_schema.CopyFrom(to_struct(schema))
        if ask.timeout:
            request.deadline.CopyFrom(_timestamp(time.time() + parse_duration(ask.timeout)))
        return request

    async def _time_out(self, step: workflow_pb2.Step, asking: run_pb2.InputRequest) -> None:
        """The question's deadline passed: record its default answer, or fail the step."""
        if not step.ask.HasField("default_answer"):
            message = f"nobody answered the question of step {step.id!r} within {step.ask.timeout}"
            error = run_error("DEADLINE_EXCEEDED", message, reason="ASK_TIMED_OUT", step_id=step.id)
            raise StepError(error, attempt=1)
        default = to_python(step.ask.default_answer)
        part = (
            TextPart(default)
            if isinstance(default, str)
            else DataPart(default if isinstance(default, dict) else {"value": default})
        )
        answer = Message(parts=(part,), sender=TIMEOUT_PRINCIPAL, context_id=self.state.run.run_id).to_proto()
        provided = run_pb2.StepInputProvided(
            step_id=step.id,
            attempt=asking.attempt,
            turn=asking.turn,
            answer=answer,
            principal=TIMEOUT_PRINCIPAL,
            timed_out=True,
        )
        await self._record(step_input_provided=provided)


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromNanoseconds(int(seconds * 1e9))
    return stamp


def _seconds(stamp: timestamp_pb2.Timestamp) -> float:
    return stamp.ToNanoseconds() / 1e9
