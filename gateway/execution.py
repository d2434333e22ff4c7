"""Executing one run: scheduling steps as their dependencies finish, retrying, recording every event.

Every step whose dependencies are done starts at once as its own task, so a slow
branch never holds up an unrelated one. Each state change is an event, applied
to the run's state and committed to the log before the run moves on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from google.protobuf import duration_pb2

from agentmesh.messages import (
    DataPart,
    Message,
    dict_to_struct,
    python_to_value,
    struct_to_dict,
    timestamp_now,
)
from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import run_pb2, workflow_pb2
from gateway import expressions
from gateway.agents import AgentDirectory, CallFailure
from gateway.events import EventLog, StoreUnavailable
from gateway.retry import RetryPolicy
from gateway.state import TERMINAL_STEP_STATES, RunState
from gateway.store.base import CallRecord
from gateway.tracing import RunTrace

log = logging.getLogger("agentmesh.gateway.run")

IDEMPOTENCY_KEY = "agentmesh-idempotency-key"
CHUNK_INTERVAL = 0.05
CHUNK_BYTES = 2048


class StepError(Exception):
    """A step failed for good: its retries are spent or its failure is not retryable."""

    def __init__(self, error: run_pb2.RunError, attempt: int, item: int | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.attempt = attempt
        self.item = item


class RunFailure(Exception):
    def __init__(self, error: run_pb2.RunError) -> None:
        super().__init__(error.message)
        self.error = error


def _error(code: str, message: str, *, reason: str = "", step_id: str = "") -> run_pb2.RunError:
    return run_pb2.RunError(code=code, message=message, reason=reason, step_id=step_id)


class RunExecutor:
    def __init__(self, state: RunState, events: EventLog, agents: AgentDirectory) -> None:
        self.state = state
        self.run = state.run
        self._events = events
        self._agents = agents
        self._steps = {step.id: step for step in self.run.workflow.steps}
        # Converted once per run; a step whose input holds no `${...}` needs no scope at all.
        self._inputs = {sid: struct_to_dict(step.input) for sid, step in self._steps.items()}
        self._templated = {
            sid for sid, data in self._inputs.items() if next(expressions.expressions_in(data), None)
        }
        self._dependents: dict[str, list[str]] = {sid: [] for sid in self._steps}
        for step in self.run.workflow.steps:
            for dep in step.dependencies:
                self._dependents[dep].append(step.id)
        self._trace = RunTrace(self.run.run_id)
        self._task: asyncio.Task[None] | None = None
        self._cancel_reason: str | None = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def start(self, *, resumed: bool = False) -> asyncio.Task[None]:
        self._task = asyncio.create_task(self._execute(resumed), name=f"run:{self.run_id}")
        return self._task

    async def cancel(self, reason: str) -> None:
        """Cancel in-flight agent calls at once and end the run CANCELLED; returns when recorded."""
        if self._task is None or self._task.done():
            return
        self._cancel_reason = reason or "cancelled"
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if not self.state.finished:
            # Cancelled before it ever ran, the task could not record its own end.
            await self.record(run_cancelled=run_pb2.RunCancelled(reason=self._cancel_reason))

    async def interrupt(self) -> None:
        """Stop executing without ending the run: the gateway is shutting down and will resume it."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def record_nowait(self, **event: Any) -> asyncio.Future[None]:
        """Apply an event to the run's state and queue it; the future resolves once it is durable.

        Numbering, applying and queueing happen with no await in between, so the log
        receives each run's events in sequence order even from concurrent steps, and
        commits them in that order.
        """
        proto = run_pb2.RunEvent(
            run_id=self.run_id, sequence=self.run.last_sequence + 1, event_time=timestamp_now(), **event
        )
        self.state.apply(proto)
        return self._events.append(proto, self.run)

    async def record(self, **event: Any) -> None:
        """Record an event and wait until it is durable."""
        await self.record_nowait(**event)

    async def _execute(self, resumed: bool) -> None:
        try:
            try:
                final = await self._conclusion(resumed)
            except asyncio.CancelledError:
                if self._cancel_reason is None:
                    raise  # interrupted by shutdown: the run stays unfinished and is resumed on restart
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
                final = {"run_cancelled": run_pb2.RunCancelled(reason=self._cancel_reason)}
            await self.record(**final)
        except StoreUnavailable:
            # Nothing more of this run can be made durable; what is stays unfinished, and the
            # next gateway to start on this store resumes it from there.
            log.error("run halted: its events cannot be recorded", extra={"run_id": self.run_id})

    async def _conclusion(self, resumed: bool) -> dict[str, Any]:
        """Run the steps; the event that ends the run (as record's keyword argument)."""
        started = time.monotonic()
        try:
            if resumed:
                await self.record(
                    run_resumed=run_pb2.RunResumed(redispatched_step_ids=self.state.in_flight())
                )
            async with asyncio.timeout(self._run_budget()):
                await self._schedule()
            outputs = self._outputs()
            duration = duration_pb2.Duration()
            duration.FromTimedelta(timedelta(seconds=time.monotonic() - started))
            return {"run_completed": run_pb2.RunCompleted(outputs=outputs, duration=duration)}
        except TimeoutError:
            limit = self.run.workflow.timeout.ToTimedelta().total_seconds()
            error = _error(
                "DEADLINE_EXCEEDED", f"the run exceeded its timeout of {limit:g}s", reason="RUN_TIMEOUT"
            )
            return {"run_failed": run_pb2.RunFailed(error=error)}
        except RunFailure as failure:
            return {"run_failed": run_pb2.RunFailed(error=failure.error)}
        except StoreUnavailable:
            raise
        except Exception:
            log.exception("run failed unexpectedly", extra={"run_id": self.run_id})
            return {
                "run_failed": run_pb2.RunFailed(error=_error("INTERNAL", "the gateway failed; see its log"))
            }

    def _run_budget(self) -> float | None:
        if not self.run.workflow.HasField("timeout"):
            return None
        limit = self.run.workflow.timeout.ToTimedelta().total_seconds()
        elapsed = time.time() - self.run.start_time.ToDatetime().timestamp()
        return max(0.0, limit - elapsed)

    def _done(self, step_id: str) -> bool:
        state = self.state.steps[step_id].state
        if state == run_pb2.STEP_STATE_FAILED:
            return step_id in self.state.continued
        return state in TERMINAL_STEP_STATES

    async def _schedule(self) -> None:
        for step in self.state.steps.values():
            # A resumed run whose step failed for good before the crash ends as it would have then.
            if step.state == run_pb2.STEP_STATE_FAILED and step.step_id not in self.state.continued:
                raise RunFailure(step.error)
        running: dict[asyncio.Task[None], str] = {}
        launched: set[str] = set()

        def launch(candidates: Iterable[str]) -> None:
            # Deciding that a step is ready and marking it launched happen in one iteration:
            # two dependencies finishing together name their dependent twice, and it must
            # start once.
            for sid in candidates:
                if sid in launched or self.state.steps[sid].state in TERMINAL_STEP_STATES:
                    continue
                if all(self._done(dep) for dep in self._steps[sid].dependencies):
                    launched.add(sid)
                    running[asyncio.create_task(self._run_step(self._steps[sid]), name=f"step:{sid}")] = sid

        launch(self._steps)
        try:
            while running:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    finished = running.pop(task)
                    task.result()  # a RunFailure ends the run; the finally cancels the other steps
                    # Only a finished step's dependents can have become ready: no rescan of the DAG.
                    launch(self._dependents[finished])
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    async def _run_step(self, step: workflow_pb2.Step) -> None:
        try:
            if step.when and not self._evaluate(step, "when", expressions.unwrap(step.when)):
                await self.record(
                    step_skipped=run_pb2.StepSkipped(step_id=step.id, reason=f"when is false: {step.when}")
                )
                return
            if not step.for_each:
                await self._invoke(step, None, None, 0)
                return  # a plain step's completion was recorded by _invoke
            begun = time.monotonic()
            output, text = await self._fan_out(step)
            completed = run_pb2.StepCompleted(step_id=step.id, output=python_to_value(output), text=text)
            completed.duration.FromTimedelta(timedelta(seconds=time.monotonic() - begun))
            await self.record(step_completed=completed)
        except StepError as failure:
            continued = step.continue_on_failure
            failed = run_pb2.StepFailed(
                step_id=step.id, attempt=failure.attempt, error=failure.error, continued=continued
            )
            if failure.item is not None:
                failed.item = failure.item
            await self.record(step_failed=failed)
            if not continued:
                raise RunFailure(failure.error) from None

    async def _fan_out(self, step: workflow_pb2.Step) -> tuple[list[Any], str]:
        items = self._evaluate(step, "for_each", expressions.unwrap(step.for_each))
        if not isinstance(items, list):
            raise StepError(
                _error(
                    "INVALID_ARGUMENT",
                    f"for_each gave a {type(items).__name__}, not a list",
                    reason="FOR_EACH_NOT_A_LIST",
                    step_id=step.id,
                ),
                attempt=0,
            )
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [
                    group.create_task(self._invoke(step, i, item, len(items))) for i, item in enumerate(items)
                ]
        except* StepError as failed:
            # The first item to fail for good fails the step; the group has cancelled the others.
            raise failed.exceptions[0] from None
        results = [task.result() for task in tasks]
        return [output for output, _ in results], "\n\n".join(text for _, text in results if text)

    def _evaluate(self, step: workflow_pb2.Step, what: str, expression: str, **extra: Any) -> Any:
        try:
            return expressions.evaluate(expression, self.state.scope(**extra))
        except expressions.ExpressionError as exc:
            raise StepError(
                _error("INVALID_ARGUMENT", f"{what}: {exc}", reason="EXPRESSION_FAILED", step_id=step.id),
                attempt=0,
            ) from None

    async def _invoke(
        self, step: workflow_pb2.Step, index: int | None, item: Any, total: int
    ) -> tuple[Any, str]:
        """Run one invocation to completion with retries; a recorded completion is never invoked again."""
        invocation = self.state.invocation(step.id, index)
        if invocation.done:
            return invocation.output, invocation.text
        data = self._inputs[step.id]
        try:
            if step.id in self._templated:
                data = expressions.resolve(data, self.state.scope(item=item, index=index))
        except expressions.ExpressionError as exc:
            raise StepError(
                _error("INVALID_ARGUMENT", f"input: {exc}", reason="EXPRESSION_FAILED", step_id=step.id),
                0,
                index,
            ) from None
        policy = RetryPolicy.from_proto(step.retry if step.HasField("retry") else None)
        attempt = invocation.next_attempt()
        while True:
            try:
                return await self._attempt(step, index, data, attempt, total)
            except CallFailure as failure:
                error = _error(failure.code.name, failure.message, reason=failure.reason, step_id=step.id)
                if not policy.should_retry(failure.code, attempt):
                    raise StepError(error, attempt, index) from None
                delay = policy.delay(attempt)
                retrying = run_pb2.StepRetrying(step_id=step.id, attempt=attempt, error=error)
                retrying.delay.FromTimedelta(timedelta(seconds=delay))
                if index is not None:
                    retrying.item = index
                await self.record(step_retrying=retrying)
                await asyncio.sleep(delay)
                attempt += 1

    async def _attempt(
        self, step: workflow_pb2.Step, index: int | None, data: dict[str, Any], attempt: int, total: int
    ) -> tuple[Any, str]:
        deadline = None
        if step.HasField("timeout"):
            deadline = time.monotonic() + step.timeout.ToTimedelta().total_seconds()
        item_label = "-" if index is None else str(index)
        started = run_pb2.StepStarted(step_id=step.id, attempt=attempt, items_total=total)
        if index is not None:
            started.item = index
        # A first attempt does not wait for its StepStarted to be durable: the log commits in
        # order, so the start is on disk before the completion, and a first call whose start was
        # lost in a crash goes out again as attempt 1, with the same idempotency key. A retry
        # waits, so that a resumed run re-sends it with its own attempt number and key.
        start_recorded = self.record_nowait(step_started=started)
        if attempt > 1:
            await start_recorded
        metadata = [
            (IDEMPOTENCY_KEY, f"{self.run_id}/{step.id}/{item_label}/{attempt}"),
            ("agentmesh-run-id", self.run_id),
            ("agentmesh-step-id", step.id),
        ]
        message = Message.request(data, sender="gateway", receiver=step.agent, context_id=self.run_id)
        request = agent_pb.InvokeRequest(message=message.to_proto(), skill=step.skill)

        pending: list[str] = []
        last_flush = time.monotonic()

        async def flush() -> None:
            nonlocal last_flush
            if pending:
                chunk = run_pb2.StepOutputChunk(step_id=step.id, text="".join(pending))
                if index is not None:
                    chunk.item = index
                pending.clear()
                last_flush = time.monotonic()
                await self.record(step_output_chunk=chunk)

        async def on_chunk(text: str) -> None:
            # Token-sized pieces are coalesced so that a streamed report is a few events, not
            # hundreds, while a watcher still sees text within CHUNK_INTERVAL of its arrival.
            pending.append(text)
            if time.monotonic() - last_flush >= CHUNK_INTERVAL or sum(map(len, pending)) >= CHUNK_BYTES:
                await flush()

        begun = time.monotonic()
        with self._trace.attempt(step.id) as trace_metadata:
            metadata += trace_metadata
            try:
                result = await self._agents.invoke(
                    step.agent, request, deadline=deadline, metadata=metadata, on_chunk=on_chunk
                )
            except CallFailure:
                self._count(step.agent, ok=False, begun=begun)
                raise
            finally:
                await start_recorded
            self._count(step.agent, ok=True, begun=begun)
            await flush()
        reply = Message.from_proto(result.response.message)
        output: Any = reply.data if any(isinstance(p, DataPart) for p in reply.parts) else None
        completed = run_pb2.StepCompleted(
            step_id=step.id,
            attempt=attempt,
            output=python_to_value(output),
            text=reply.text,
            input_tokens=result.response.usage.input_tokens,
            output_tokens=result.response.usage.output_tokens,
        )
        completed.duration.FromTimedelta(timedelta(seconds=time.monotonic() - begun))
        if index is not None:
            completed.item = index
        await self.record(step_completed=completed)
        return output, reply.text

    def _count(self, agent: str, *, ok: bool, begun: float) -> None:
        self._events.count_call(CallRecord(agent, ok, (time.monotonic() - begun) * 1000))

    def _outputs(self) -> Any:
        declared = struct_to_dict(self.run.workflow.outputs)
        if declared:
            try:
                return dict_to_struct(expressions.resolve(declared, self.state.scope()))
            except expressions.ExpressionError as exc:
                raise RunFailure(
                    _error("INVALID_ARGUMENT", f"outputs: {exc}", reason="EXPRESSION_FAILED")
                ) from None
        leaves = [sid for sid, dependents in self._dependents.items() if not dependents]
        return dict_to_struct({sid: self.state.outputs.get(sid) for sid in leaves})
