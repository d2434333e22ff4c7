"""Run events as Python values, one class per kind, so that code can `match` on them.

Every event carries the run id, its sequence (1, 2, 3 … for each run, without gaps)
and when it was recorded; the proto it came from is kept as `proto`. The bulky parts
(a started run, outputs) are converted when read, so that following a run's events
costs little when they are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from agentmesh.client._runs import InputRequest, Run, RunError, duration, timestamp
from agentmesh.messages import FilePart, Message, files_of, struct_to_dict, value_to_python
from agentmesh.v1 import run_pb2


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    run_id: str
    sequence: int
    time: datetime | None
    proto: run_pb2.RunEvent = field(repr=False, compare=False)

    @property
    def final(self) -> bool:
        """Whether this event ends the run (completed, failed or cancelled)."""
        return isinstance(self, RunCompleted | RunFailed | RunCancelled)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStarted(Event):
    @property
    def run(self) -> Run:
        """The run as it started (converted when asked for: it holds the whole workflow)."""
        return Run.from_proto(self.proto.run_started.run)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepStarted(Event):
    step_id: str
    attempt: int
    item: int | None
    items_total: int
    address: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepOutputChunk(Event):
    step_id: str
    item: int | None
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepRetrying(Event):
    step_id: str
    item: int | None
    attempt: int
    delay: timedelta
    error: RunError


@dataclass(frozen=True, slots=True, kw_only=True)
class StepCompleted(Event):
    step_id: str
    item: int | None
    attempt: int
    text: str
    duration: timedelta
    input_tokens: int
    output_tokens: int

    @property
    def output(self) -> Any:
        """The step's (or item's) output as Python data; converted when asked for."""
        done = self.proto.step_completed
        return value_to_python(done.output) if done.HasField("output") else None

    @property
    def files(self) -> tuple[FilePart, ...]:
        """The files the step's (or item's) agent replied with; converted when asked for."""
        return files_of(self.proto.step_completed.files)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepFailed(Event):
    step_id: str
    item: int | None
    attempt: int
    error: RunError
    continued: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSkipped(Event):
    step_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResumed(Event):
    redispatched_step_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInputRequired(Event):
    """A step's agent asked a question; the step waits for an answer."""

    request: InputRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class StepInputProvided(Event):
    step_id: str
    item: int | None
    attempt: int
    turn: int
    answer: Message
    principal: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RunWaiting(Event):
    """Every step left waits for an answer: the run holds nothing until one comes."""

    step_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCompleted(Event):
    duration: timedelta

    @property
    def outputs(self) -> dict[str, Any]:
        return struct_to_dict(self.proto.run_completed.outputs)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunFailed(Event):
    error: RunError


@dataclass(frozen=True, slots=True, kw_only=True)
class RunCancelled(Event):
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepSleeping(Event):
    """A sleep step waits until `wake_time`."""

    step_id: str
    wake_time: datetime | None


@dataclass(frozen=True, slots=True, kw_only=True)
class StepChildStarted(Event):
    """A sub-workflow step (or item) started a child run."""

    step_id: str
    item: int | None
    child_run_id: str
    workflow_name: str
    workflow_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StepQueued(Event):
    """An attempt's call waits for its agent's concurrency or rate limit ("max_concurrency", "rate")."""

    step_id: str
    item: int | None
    attempt: int
    agent: str
    limit: str


def event_from_proto(event: run_pb2.RunEvent) -> Event:
    """The event as its own class; an event kind this version does not know is a plain Event."""
    base: dict[str, Any] = {
        "run_id": event.run_id,
        "sequence": event.sequence,
        "time": timestamp(event, "event_time"),
        "proto": event,
    }
    match event.WhichOneof("event"):
        case "run_started":
            return RunStarted(**base)
        case "step_started":
            e = event.step_started
            return StepStarted(
                **base,
                step_id=e.step_id,
                attempt=e.attempt,
                item=_item(e),
                items_total=e.items_total,
                address=e.address,
            )
        case "step_output_chunk":
            chunk = event.step_output_chunk
            return StepOutputChunk(**base, step_id=chunk.step_id, item=_item(chunk), text=chunk.text)
        case "step_retrying":
            r = event.step_retrying
            return StepRetrying(
                **base,
                step_id=r.step_id,
                item=_item(r),
                attempt=r.attempt,
                delay=duration(r.delay),
                error=RunError.from_proto(r.error),
            )
        case "step_completed":
            c = event.step_completed
            return StepCompleted(
                **base,
                step_id=c.step_id,
                item=_item(c),
                attempt=c.attempt,
                text=c.text,
                duration=duration(c.duration),
                input_tokens=c.input_tokens,
                output_tokens=c.output_tokens,
            )
        case "step_failed":
            f = event.step_failed
            return StepFailed(
                **base,
                step_id=f.step_id,
                item=_item(f),
                attempt=f.attempt,
                error=RunError.from_proto(f.error),
                continued=f.continued,
            )
        case "step_skipped":
            return StepSkipped(**base, step_id=event.step_skipped.step_id, reason=event.step_skipped.reason)
        case "step_input_required":
            return StepInputRequired(
                **base, request=InputRequest.from_proto(event.step_input_required.request)
            )
        case "step_input_provided":
            p = event.step_input_provided
            return StepInputProvided(
                **base,
                step_id=p.step_id,
                item=_item(p),
                attempt=p.attempt,
                turn=p.turn,
                answer=Message.from_proto(p.answer),
                principal=p.principal,
            )
        case "step_sleeping":
            return StepSleeping(
                **base,
                step_id=event.step_sleeping.step_id,
                wake_time=timestamp(event.step_sleeping, "wake_time"),
            )
        case "step_child_started":
            child = event.step_child_started
            return StepChildStarted(
                **base,
                step_id=child.step_id,
                item=_item(child),
                child_run_id=child.child_run_id,
                workflow_name=child.workflow_name,
                workflow_version=child.workflow_version,
            )
        case "step_queued":
            q = event.step_queued
            return StepQueued(
                **base, step_id=q.step_id, item=_item(q), attempt=q.attempt, agent=q.agent, limit=q.limit
            )
        case "run_waiting":
            return RunWaiting(**base, step_ids=tuple(event.run_waiting.step_ids))
        case "run_resumed":
            return RunResumed(**base, redispatched_step_ids=tuple(event.run_resumed.redispatched_step_ids))
        case "run_completed":
            return RunCompleted(**base, duration=duration(event.run_completed.duration))
        case "run_failed":
            return RunFailed(**base, error=RunError.from_proto(event.run_failed.error))
        case "run_cancelled":
            return RunCancelled(**base, reason=event.run_cancelled.reason)
    return Event(**base)


def _item(body: Any) -> int | None:
    return body.item if body.HasField("item") else None
