"""Runs as Python values: a run, its steps and its error, converted once from protobuf at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

from google.protobuf import duration_pb2, timestamp_pb2

from agentmesh.messages import FilePart, Message, files_of, struct_to_dict, value_to_python
from agentmesh.v1 import run_pb2, workflow_pb2


class RunState(Enum):
    """A run's state (AIP-216): it ends SUCCEEDED, FAILED or CANCELLED."""

    UNSPECIFIED = "unspecified"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    #: Nothing left to do until someone answers a step's question.
    WAITING_FOR_INPUT = "waiting_for_input"
    #: Nothing left to do until a timer fires (`Run.wake_time`).
    SLEEPING = "sleeping"

    @property
    def finished(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)

    @classmethod
    def from_proto(cls, value: int) -> RunState:
        return _RUN_STATES.get(value, RunState.UNSPECIFIED)

    def to_proto(self) -> run_pb2.RunState.ValueType:
        return run_pb2.RunState.Value(f"RUN_STATE_{self.name}")


class StepState(Enum):
    UNSPECIFIED = "unspecified"
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    WAITING_FOR_INPUT = "waiting_for_input"
    SLEEPING = "sleeping"
    #: Its agent call waits for the agent's concurrency or rate limit.
    QUEUED = "queued"

    @classmethod
    def from_proto(cls, value: int) -> StepState:
        return _STEP_STATES.get(value, StepState.UNSPECIFIED)


_RUN_STATES = {int(v): RunState[name.removeprefix("RUN_STATE_")] for name, v in run_pb2.RunState.items()}
_STEP_STATES = {int(v): StepState[name.removeprefix("STEP_STATE_")] for name, v in run_pb2.StepState.items()}


@dataclass(frozen=True, slots=True)
class RunError:
    """Why a step or a run failed: a gRPC code name, a message, an UPPER_SNAKE reason, the step."""

    code: str
    message: str
    reason: str = ""
    step_id: str = ""

    @classmethod
    def from_proto(cls, error: run_pb2.RunError) -> RunError:
        return cls(error.code, error.message, error.reason, error.step_id)


@dataclass(frozen=True, slots=True)
class InputRequest:
    """A question a step's agent asked, waiting for an answer (`RunHandle.respond`)."""

    step_id: str
    item: int | None
    attempt: int
    turn: int
    question: Message
    #: The JSON Schema the answer's data must satisfy (empty: any answer).
    answer_schema: dict[str, Any]

    @property
    def text(self) -> str:
        return self.question.text

    @classmethod
    def from_proto(cls, request: run_pb2.InputRequest) -> InputRequest:
        return cls(
            step_id=request.step_id,
            item=request.item if request.HasField("item") else None,
            attempt=request.attempt,
            turn=request.turn,
            question=Message.from_proto(request.question),
            answer_schema=struct_to_dict(request.answer_schema),
        )


@dataclass(frozen=True, slots=True)
class Usage:
    """What agent calls spent: tokens, and their cost at the gateway's prices, in all and by model
    (model name → (input tokens, output tokens, cost))."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    models: dict[str, tuple[int, int, float]] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_proto(cls, usage: run_pb2.Usage) -> Usage:
        models = {m.model: (m.input_tokens, m.output_tokens, m.cost) for m in usage.models}
        return cls(usage.input_tokens, usage.output_tokens, usage.cost, models)


@dataclass(frozen=True, slots=True)
class StepRun:
    step_id: str
    state: StepState
    attempts: int
    output: Any
    text: str
    error: RunError | None
    items_total: int
    items_done: int
    start_time: datetime | None
    end_time: datetime | None
    #: Questions its agent asked that wait for an answer.
    pending_input: tuple[InputRequest, ...] = ()
    #: A sub-workflow step's child runs.
    child_run_ids: tuple[str, ...] = ()
    #: A sleeping step's due time.
    wake_time: datetime | None = None
    usage: Usage = field(default_factory=Usage)
    #: The files its agent replied with (a for_each step's: its items', in item order).
    files: tuple[FilePart, ...] = ()
    #: Its agent's reply was a direct message, not a task's result (`Reply(direct=True)`).
    direct: bool = False

    @classmethod
    def from_proto(cls, step: run_pb2.StepRun) -> StepRun:
        return cls(
            step_id=step.step_id,
            state=StepState.from_proto(step.state),
            attempts=step.attempts,
            output=value_to_python(step.output) if step.HasField("output") else None,
            text=step.text,
            error=RunError.from_proto(step.error) if step.HasField("error") else None,
            items_total=step.items_total,
            items_done=step.items_done,
            start_time=timestamp(step, "start_time"),
            end_time=timestamp(step, "end_time"),
            pending_input=tuple(InputRequest.from_proto(request) for request in step.pending_input),
            child_run_ids=tuple(step.child_run_ids),
            wake_time=timestamp(step, "wake_time"),
            usage=Usage.from_proto(step.usage),
            files=files_of(step.files),
            direct=step.direct,
        )


@dataclass(frozen=True, slots=True)
class Run:
    """A run as the gateway last recorded it (GetRun may lag the live run by about 100 ms)."""

    run_id: str
    state: RunState
    workflow: workflow_pb2.Workflow = field(repr=False)
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: RunError | None
    steps: tuple[StepRun, ...]
    request_id: str
    session_id: str
    shared: dict[str, Any]
    create_time: datetime | None
    start_time: datetime | None
    end_time: datetime | None
    last_sequence: int
    #: Who started the run (empty when the gateway runs without authentication).
    principal: str
    proto: run_pb2.Run = field(repr=False, compare=False)
    usage: Usage = field(default_factory=Usage)
    #: The run whose sub-workflow step started this one, and that step (empty otherwise).
    parent_run_id: str = ""
    parent_step_id: str = ""
    #: When a sleeping (or waiting) run's next timer fires.
    wake_time: datetime | None = None
    #: The schedule that started it, if one did.
    schedule: str = ""

    @property
    def workflow_name(self) -> str:
        return self.workflow.name

    @property
    def duration(self) -> timedelta | None:
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    @property
    def pending_input(self) -> tuple[InputRequest, ...]:
        """Every question waiting for an answer, step by step."""
        return tuple(request for step in self.steps for request in step.pending_input)

    def step(self, step_id: str) -> StepRun:
        """The step with this id; KeyError if the workflow has none."""
        for step in self.steps:
            if step.step_id == step_id:
                return step
        raise KeyError(step_id)

    @classmethod
    def from_proto(cls, run: run_pb2.Run) -> Run:
        return cls(
            run_id=run.run_id,
            state=RunState.from_proto(run.state),
            workflow=run.workflow,
            inputs=struct_to_dict(run.inputs),
            outputs=struct_to_dict(run.outputs),
            error=RunError.from_proto(run.error) if run.HasField("error") else None,
            steps=tuple(StepRun.from_proto(step) for step in run.steps),
            request_id=run.request_id,
            session_id=run.context.session_id,
            shared=struct_to_dict(run.context.shared),
            create_time=timestamp(run, "create_time"),
            start_time=timestamp(run, "start_time"),
            end_time=timestamp(run, "end_time"),
            last_sequence=run.last_sequence,
            principal=run.principal,
            proto=run,
            usage=Usage.from_proto(run.usage),
            parent_run_id=run.parent.run_id,
            parent_step_id=run.parent.step_id,
            wake_time=timestamp(run, "wake_time"),
            schedule=run.schedule,
        )


def timestamp(message: Any, name: str) -> datetime | None:
    """A Timestamp field as an aware UTC datetime, or None when unset."""
    if not message.HasField(name):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, name)
    return datetime.fromtimestamp(value.seconds + value.nanos / 1e9, UTC)  # to the microsecond


def duration(value: duration_pb2.Duration) -> timedelta:
    return timedelta(seconds=value.seconds, microseconds=value.nanos // 1000)
