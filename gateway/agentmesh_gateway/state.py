"""A run's state, derived from its events alone.

The executor applies each event here as it records it, and a restarted gateway
applies the recorded history the same way, so a resumed run knows exactly which
steps and for_each items completed (never to be invoked again) and which were in
flight (to be dispatched again with their original attempt number).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import struct_pb2

from agentmesh.v1 import message_pb2, run_pb2
from agentmesh_gateway.payloads import RunData, to_python
from agentmesh_gateway.pricing import add_usage

TERMINAL_STEP_STATES = frozenset(
    {
        run_pb2.STEP_STATE_SUCCEEDED,
        run_pb2.STEP_STATE_FAILED,
        run_pb2.STEP_STATE_SKIPPED,
        run_pb2.STEP_STATE_CANCELLED,
    }
)
FINISHED_RUN_STATES = frozenset(
    {run_pb2.RUN_STATE_SUCCEEDED, run_pb2.RUN_STATE_FAILED, run_pb2.RUN_STATE_CANCELLED}
)
NULL = struct_pb2.Value(null_value=struct_pb2.NULL_VALUE)
#: `apply`'s default: the completion's output is read from the event.
FROM_EVENT: Any = object()


@dataclass
class Invocation:
    """One unit of agent work: a plain step, or one item of a for_each step."""

    attempt: int = 0
    done: bool = False
    output: Any = None
    #: The output as recorded (a Value of the completion event): what a for_each join is built from.
    value: struct_pb2.Value = field(default_factory=lambda: NULL)
    text: str = ""
    #: The files its agent replied with (StepCompleted.files): what a for_each join is built from.
    files: list[message_pb2.Part] = field(default_factory=list)
    #: The last attempt failed and a retry was recorded, not yet started.
    retrying: bool = False
    #: The agent's question waiting for an answer, if it asked one (the invocation waits).
    asking: run_pb2.InputRequest | None = None
    #: The questions asked and answered so far, in order: what the agent is sent again as the
    #: conversation (across attempts: a retry does not ask a person twice).
    turns: list[tuple[message_pb2.AgentMessage, message_pb2.AgentMessage]] = field(default_factory=list)
    #: The task at a remote (A2A) agent that the invocation's last attempt holds, if its agent is
    #: one: what a resumed attempt re-attaches to rather than sending its message again.
    remote: run_pb2.StepRemoteTask | None = None
    #: A sub-workflow invocation's child run, once started.
    child: str = ""

    def next_attempt(self) -> int:
        """The attempt to send on resuming: one whose outcome is not recorded yet.

        An attempt in flight goes out again with its number (and so its idempotency
        key); after a recorded failure it is the next one, never the failed one again.
        """
        if self.retrying:
            return self.attempt + 1
        return self.attempt or 1


class RunState:
    def __init__(
        self, run: run_pb2.Run, inputs: RunData | None = None, shared: RunData | None = None
    ) -> None:
        """`inputs`, `shared`: the run's inputs and shared context as the start checked them (their
        Python form made once); None for a run read back from the store."""
        self.run = run
        self.steps = {step.step_id: step for step in run.steps}
        self.invocations: dict[tuple[str, int | None], Invocation] = {}
        self.outputs: dict[str, Any] = {}
        self.texts: dict[str, str] = {}
        self.continued: set[str] = set()
        #: Bytes of step completions the run keeps (what its snapshot holds), and of each
        #: for_each step's item completions so far: both are bounded (see gateway.limits).
        self.kept_bytes = 0
        self.item_bytes: dict[str, int] = {}
        self.inputs = (inputs or RunData(struct=run.inputs)).python
        self.shared = (shared or RunData(struct=run.context.shared)).python
        #: Called (with nothing) as the run's end is applied: whoever holds something outside the
        #: gateway for the run (a remote agent's task) lets go of it.
        self.on_end: list[Callable[[], None]] = []

    @property
    def finished(self) -> bool:
        return self.run.state in FINISHED_RUN_STATES

    def invocation(self, step_id: str, item: int | None) -> Invocation:
        return self.invocations.setdefault((step_id, item), Invocation())

    def in_flight(self) -> list[str]:
        """Steps with an invocation started, not completed and not waiting for an answer."""
        return sorted(
            {
                sid
                for (sid, _), inv in self.invocations.items()
                if inv.attempt and not inv.done and inv.asking is None
            }
            - {sid for sid, step in self.steps.items() if step.state in TERMINAL_STEP_STATES}
        )

    def item_files(self, step_id: str, count: int) -> list[message_pb2.Part]:
        """A for_each step's files: those of its `count` items, in item order (its join)."""
        return [file for index in range(count) for file in self.invocation(step_id, index).files]

    def asking(self) -> list[run_pb2.InputRequest]:
        """Every question waiting for an answer."""
        return [inv.asking for inv in self.invocations.values() if inv.asking is not None]

    def scope(self, **extra: Any) -> dict[str, Any]:
        """What expressions see."""
        steps = {
            sid: {
                "output": self.outputs.get(sid),
                "text": self.texts.get(sid, ""),
                "state": run_pb2.StepState.Name(step.state).removeprefix("STEP_STATE_").lower(),
            }
            for sid, step in self.steps.items()
        }
        run = {"id": self.run.run_id, "session_id": self.run.context.session_id}
        return {"inputs": self.inputs, "shared": self.shared, "steps": steps, "run": run, **extra}

    def apply(self, event: run_pb2.RunEvent, *, output: Any = FROM_EVENT) -> None:
        """Apply one event. `output`: a completion's output as Python, when the caller has it
        already (the executor, live), so that a large one is not converted back from the event."""
        self.run.last_sequence = event.sequence
        kind = event.WhichOneof("event")
        match kind:
            case "step_started":
                e = event.step_started
                step = self.steps[e.step_id]
                if step.state in (run_pb2.STEP_STATE_PENDING, run_pb2.STEP_STATE_QUEUED):
                    step.state = run_pb2.STEP_STATE_RUNNING
                if not step.HasField("start_time"):
                    step.start_time.CopyFrom(event.event_time)
                step.attempts = max(step.attempts, e.attempt)
                step.items_total = e.items_total
                invocation = self.invocation(e.step_id, e.item if e.HasField("item") else None)
                invocation.attempt, invocation.retrying = e.attempt, False
            case "step_retrying":
                retrying = event.step_retrying
                item = retrying.item if retrying.HasField("item") else None
                self.invocation(retrying.step_id, item).retrying = True
            case "step_completed":
                done = event.step_completed
                if done.models:
                    add_usage(self.run.usage, done.models)
                    add_usage(self.steps[done.step_id].usage, done.models)
                if output is FROM_EVENT:
                    output = to_python(done.output) if done.HasField("output") else None
                if done.HasField("item"):
                    self.item_bytes[done.step_id] = self.item_bytes.get(done.step_id, 0) + done.ByteSize()
                    invocation = self.invocation(done.step_id, done.item)
                    invocation.done, invocation.output, invocation.text = True, output, done.text
                    invocation.value = done.output if done.HasField("output") else NULL
                    invocation.files = list(done.files)
                    self.steps[done.step_id].items_done += 1
                    return
                self.kept_bytes += done.ByteSize()
                step = self.steps[done.step_id]
                step.state = run_pb2.STEP_STATE_SUCCEEDED
                step.text = done.text
                step.output.CopyFrom(done.output)
                step.files.extend(done.files)
                step.direct = done.direct
                step.end_time.CopyFrom(event.event_time)
                self.outputs[done.step_id], self.texts[done.step_id] = output, done.text
                invocation = self.invocation(done.step_id, None)
                invocation.done, invocation.output, invocation.text = True, output, done.text
            case "step_failed":
                failed = event.step_failed
                step = self.steps[failed.step_id]
                step.state = run_pb2.STEP_STATE_FAILED
                step.error.CopyFrom(failed.error)
                if failed.continued:
                    self.continued.add(failed.step_id)
                step.end_time.CopyFrom(event.event_time)
            case "step_skipped":
                step = self.steps[event.step_skipped.step_id]
                step.state = run_pb2.STEP_STATE_SKIPPED
                step.end_time.CopyFrom(event.event_time)
            case "step_input_required":
                request = event.step_input_required.request
                item = request.item if request.HasField("item") else None
                self.invocation(request.step_id, item).asking = request
                step = self.steps[request.step_id]
                step.state = run_pb2.STEP_STATE_WAITING_FOR_INPUT
                step.pending_input.append(request)
                _started(step, event)
            case "step_sleeping":
                sleeping = event.step_sleeping
                step = self.steps[sleeping.step_id]
                step.state = run_pb2.STEP_STATE_SLEEPING
                step.wake_time.CopyFrom(sleeping.wake_time)
                _started(step, event)
            case "step_queued":
                step = self.steps[event.step_queued.step_id]
                if step.state == run_pb2.STEP_STATE_PENDING:
                    step.state = run_pb2.STEP_STATE_QUEUED
                    _started(step, event)
            case "step_child_started":
                child = event.step_child_started
                item = child.item if child.HasField("item") else None
                self.invocation(child.step_id, item).child = child.child_run_id
                step = self.steps[child.step_id]
                if child.child_run_id not in step.child_run_ids:
                    step.child_run_ids.append(child.child_run_id)
                if step.state == run_pb2.STEP_STATE_PENDING:
                    step.state = run_pb2.STEP_STATE_RUNNING
                _started(step, event)
            case "step_input_provided":
                answered = event.step_input_provided
                item = answered.item if answered.HasField("item") else None
                invocation = self.invocation(answered.step_id, item)
                if invocation.asking is not None:
                    invocation.turns.append((invocation.asking.question, answered.answer))
                invocation.asking = None
                step = self.steps[answered.step_id]
                remaining = [
                    r for r in step.pending_input if (r.item if r.HasField("item") else None) != item
                ]
                del step.pending_input[:]
                step.pending_input.extend(remaining)
                if not remaining:
                    step.state = run_pb2.STEP_STATE_RUNNING
                self.run.state = run_pb2.RUN_STATE_RUNNING
                self.run.ClearField("wake_time")
            case "step_remote_task":
                remote = event.step_remote_task
                item = remote.item if remote.HasField("item") else None
                self.invocation(remote.step_id, item).remote = remote
            case "run_waiting":
                waiting = event.run_waiting
                asked = any(inv.asking is not None for inv in self.invocations.values())
                self.run.state = run_pb2.RUN_STATE_WAITING_FOR_INPUT if asked else run_pb2.RUN_STATE_SLEEPING
                if waiting.HasField("wake_time"):
                    self.run.wake_time.CopyFrom(waiting.wake_time)
                else:
                    self.run.ClearField("wake_time")
            case "run_resumed":
                self.run.state = run_pb2.RUN_STATE_RUNNING
                self.run.ClearField("wake_time")
            case "run_completed":
                self.run.state = run_pb2.RUN_STATE_SUCCEEDED
                self.run.outputs.CopyFrom(event.run_completed.outputs)
                self._end(event)
            case "run_failed":
                self.run.state = run_pb2.RUN_STATE_FAILED
                self.run.error.CopyFrom(event.run_failed.error)
                self._end(event)
            case "run_cancelled":
                self.run.state = run_pb2.RUN_STATE_CANCELLED
                self._end(event)
            case _:
                pass  # run_started and chunks change no state

    def _end(self, event: run_pb2.RunEvent) -> None:
        self.run.end_time.CopyFrom(event.event_time)
        self.run.ClearField("wake_time")
        for step in self.steps.values():
            del step.pending_input[:]  # nobody may answer an ended run's questions
            if step.state not in TERMINAL_STEP_STATES:
                step.state = run_pb2.STEP_STATE_CANCELLED
                step.end_time.CopyFrom(event.event_time)
        for callback in self.on_end:
            callback()


def _started(step: run_pb2.StepRun, event: run_pb2.RunEvent) -> None:
    """A step that waits (or queues) before any attempt starts has started all the same."""
    if not step.HasField("start_time"):
        step.start_time.CopyFrom(event.event_time)
