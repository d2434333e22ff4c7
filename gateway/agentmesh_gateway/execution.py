"""Executing one run: scheduling steps as their dependencies finish, and ending the run.

Every step whose dependencies are done starts at once as its own task, so a slow
branch never holds up an unrelated one. Each state change is an event, applied
to the run's state and committed to the log before the run moves on. Invoking an
agent for a step or item (input, attempts, output) is `gateway.invoker`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from google.protobuf import duration_pb2, struct_pb2

from agentmesh.messages import timestamp_now
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway import expressions, templates
from agentmesh_gateway.agents import AgentDirectory
from agentmesh_gateway.answers import record_answers
from agentmesh_gateway.children import Children, ChildRuns
from agentmesh_gateway.events import EventLog, LeaseLost, StoreUnavailable
from agentmesh_gateway.failures import Parked, RunFailure, StepError, run_error
from agentmesh_gateway.fan_out import Invoke, fan_out
from agentmesh_gateway.invoker import StepInvoker, check_completion
from agentmesh_gateway.limits import MAX_VALUE_BYTES, LimitExceeded, MiB
from agentmesh_gateway.payloads import to_python, to_struct
from agentmesh_gateway.pricing import Prices
from agentmesh_gateway.state import FROM_EVENT, NULL, TERMINAL_STEP_STATES, RunState
from agentmesh_gateway.step_kinds import kind_of
from agentmesh_gateway.store.base import CallRecord, RunStore
from agentmesh_gateway.tracing import RunTrace
from agentmesh_gateway.waits import Waits

log = logging.getLogger("agentmesh.gateway.run")


#: A run whose every step left waits for a timer due within this long keeps waiting in its task;
#: one due later parks (holding nothing), to be woken by the gateway's alarm.
HOLD_SECONDS = 2.0


@dataclass(frozen=True)
class RunServices:
    """What executing a run uses besides its own state, the same for every run of a gateway."""

    store: RunStore
    events: EventLog
    agents: AgentDirectory
    #: Starts and follows the child runs of sub-workflow steps (the engine).
    children: ChildRuns
    prices: Prices = field(default_factory=Prices)


class RunExecutor:
    def __init__(self, state: RunState, services: RunServices, fence: int) -> None:
        """`fence`: the token of this gateway's lease on the run, which every write carries (the
        run's owner sets a new one when the lease is claimed again)."""
        self.state = state
        self.run = state.run
        self.fence = fence
        self._events = services.events
        self._store = services.store
        self._answers = asyncio.Event()
        self._steps = {step.id: step for step in self.run.workflow.steps}
        self._dependents: dict[str, list[str]] = {sid: [] for sid in self._steps}
        for step in self.run.workflow.steps:
            for dep in step.dependencies:
                self._dependents[dep].append(step.id)
        self._invoker = StepInvoker(
            state,
            self.record,
            self.record_nowait,
            self.count_call,
            services.agents,
            RunTrace(self.run_id),
            services.prices,
        )
        self._waits = Waits(state, self.record)
        self._children = Children(state, self.record, services.children)
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

    def answers_arrived(self) -> None:
        """Answers to its agents' questions were added to the store: record them, go on."""
        self._answers.set()

    async def interrupt(self) -> None:
        """Stop executing without ending the run: the gateway is shutting down and will resume it."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def record_nowait(self, output: Any = FROM_EVENT, **event: Any) -> asyncio.Future[None]:
        """Apply an event to the run's state and queue it; the future resolves once it is durable.

        Numbering, applying and queueing happen with no await in between, so the log
        receives each run's events in sequence order even from concurrent steps, and
        commits them in that order. `output`: a completion's output as Python, if known.
        """
        proto = run_pb2.RunEvent(
            run_id=self.run_id, sequence=self.run.last_sequence + 1, event_time=timestamp_now(), **event
        )
        self.state.apply(proto, output=output)
        return self._events.append(proto, self.run, self.fence)

    def count_call(self, call: CallRecord) -> None:
        """Count an agent call of this run, written with its next events under the same fence."""
        self._events.count_call(call, self.fence)

    async def record(self, output: Any = FROM_EVENT, **event: Any) -> None:
        """Record an event and wait until it is durable."""
        await self.record_nowait(output, **event)

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
            if final is not None:  # None: parked, waiting for input with nothing held
                await self.record(**final)
        except LeaseLost:
            # Another replica took the run over while this one could not renew its lease (paused,
            # cut off): it goes on from the recorded history; nothing more is written from here.
            log.warning("run handed over: another replica holds its lease", extra={"run_id": self.run_id})
        except StoreUnavailable:
            # Nothing more of this run can be made durable; what is stays unfinished, and the
            # next gateway to start on this store resumes it from there.
            log.error("run halted: its events cannot be recorded", extra={"run_id": self.run_id})

    async def _conclusion(self, resumed: bool) -> dict[str, Any] | None:
        """Run the steps; the event that ends the run (as record's keyword argument), or None if
        the run now waits for input (RunWaiting recorded)."""
        started = time.monotonic()
        try:
            if resumed:
                await self.record(
                    run_resumed=run_pb2.RunResumed(redispatched_step_ids=self.state.in_flight())
                )
            async with asyncio.timeout(self._run_budget()):
                if not await self._schedule():
                    return None
            outputs = self._outputs()
            duration = duration_pb2.Duration()
            duration.FromTimedelta(timedelta(seconds=time.monotonic() - started))
            return {"run_completed": run_pb2.RunCompleted(outputs=outputs, duration=duration)}
        except TimeoutError:
            limit = self.run.workflow.timeout.ToTimedelta().total_seconds()
            error = run_error(
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
                "run_failed": run_pb2.RunFailed(
                    error=run_error("INTERNAL", "the gateway failed; see its log")
                )
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

    async def _schedule(self) -> bool:
        """Run the steps as their dependencies finish: True once every step has ended, False if
        what is left waits for answers (RunWaiting is recorded, and nothing is held)."""
        for step in self.state.steps.values():
            # A resumed run whose step failed for good before the crash ends as it would have then.
            if step.state == run_pb2.STEP_STATE_FAILED and step.step_id not in self.state.continued:
                raise RunFailure(step.error)
        running: dict[asyncio.Task[None], str] = {}
        launched: set[str] = set()
        #: Steps that wait, each with when its timer fires (None: only an answer wakes it), and
        #: those of them that wait for an answer (a sleeping step waits for its timer alone).
        parked: dict[str, float | None] = {}
        asking: set[str] = set()

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

        def answered(sids: Iterable[str]) -> None:
            """Steps with a question answered go on, unless still running (their task sees it)."""
            for sid in sids:
                if sid in asking and not self._asking(sid):
                    del parked[sid]
                    asking.discard(sid)
                    launched.discard(sid)
                    launch([sid])

        def due() -> None:
            """Steps whose timer has fired go on (they end their sleep, or time their question out)."""
            now = time.time()
            for sid in [sid for sid, at in parked.items() if at is not None and at <= now]:
                del parked[sid]
                asking.discard(sid)
                launched.discard(sid)
                launch([sid])

        # Answers that came while the run waited (or while no gateway executed it) go first; the
        # steps they answer are then ready like the others.
        await record_answers(self._store, self.state, self.record)
        launch(self._steps)
        try:
            while True:
                wake = min((at for at in parked.values() if at is not None), default=None)
                if not running:
                    if not parked:
                        return True
                    if wake is None or wake - time.time() > HOLD_SECONDS:
                        # All that is left waits: say so durably, then look once more for answers
                        # that came meanwhile (whoever added one after that wakes the run, as the
                        # alarm does once its timer is due).
                        waiting = run_pb2.RunWaiting(step_ids=sorted(parked))
                        if wake is not None:
                            waiting.wake_time.FromNanoseconds(int(wake * 1e9))
                        await self.record(run_waiting=waiting)
                        answered(await record_answers(self._store, self.state, self.record))
                        if not running:
                            return False
                arrived = asyncio.ensure_future(self._answers.wait())
                timeout = None if wake is None else max(0.0, wake - time.time())
                try:
                    done, _ = await asyncio.wait(
                        [*running, arrived], timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    arrived.cancel()
                if self._answers.is_set():
                    self._answers.clear()
                    answered(await record_answers(self._store, self.state, self.record))
                due()
                for task in [task for task in running if task in done]:
                    finished = running.pop(task)
                    if isinstance(parking := task.exception(), Parked):
                        parked[finished] = parking.wake_at
                        if parking.answer:
                            asking.add(finished)
                        # Answered while its task ran (the loop recorded the answer, and the
                        # task parked on what it had read before), or while its other items ran.
                        answered([finished])
                        continue
                    task.result()  # a RunFailure ends the run; the finally cancels the other steps
                    # Only a finished step's dependents can have become ready: no rescan of the DAG.
                    launch(self._dependents[finished])
        finally:
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    def _asking(self, step_id: str) -> bool:
        """Whether an invocation of the step waits for an answer."""
        return any(
            inv.asking is not None for (sid, _), inv in self.state.invocations.items() if sid == step_id
        )

    async def _run_step(self, step: workflow_pb2.Step) -> None:
        try:
            if step.when and not self._evaluate(step, "when", templates.unwrap(step.when)):
                reason = f"when is false: {step.when}"
                await self.record(step_skipped=run_pb2.StepSkipped(step_id=step.id, reason=reason))
                return
            kind = kind_of(step)
            if kind == "sleep":
                await self._waits.sleep(step)
                return
            if kind == "ask":
                await self._waits.ask(step)
                return
            invoke: Invoke = self._children.invoke if kind == "workflow" else self._invoker.invoke
            if not step.for_each:
                await invoke(step, None, None, 0)
                return  # a plain step's completion was recorded by the invocation
            begun = time.monotonic()
            items = self._evaluate(step, "for_each", templates.unwrap(step.for_each))
            output, value, text = await fan_out(self.state, step, items, invoke)
            completed = run_pb2.StepCompleted(step_id=step.id, text=text)
            completed.files.extend(self.state.item_files(step.id, len(output)))
            completed.duration.FromTimedelta(timedelta(seconds=time.monotonic() - begun))
            check_completion(self.state, completed, output, encoded=value)
            await self.record(output, step_completed=completed)
        except StepError as failure:
            # A spent budget ends the run whatever the step says.
            continued = step.continue_on_failure and not failure.fatal
            failed = run_pb2.StepFailed(
                step_id=step.id, attempt=failure.attempt, error=failure.error, continued=continued
            )
            if failure.item is not None:
                failed.item = failure.item
            await self.record(step_failed=failed)
            if not continued:
                raise RunFailure(failure.error) from None

    def _evaluate(self, step: workflow_pb2.Step, what: str, expression: str) -> Any:
        try:
            return expressions.evaluate(expression, self.state.scope())
        except expressions.ExpressionError as exc:
            error = run_error(
                "INVALID_ARGUMENT", f"{what}: {exc}", reason="EXPRESSION_FAILED", step_id=step.id
            )
            raise StepError(error, attempt=0) from None

    def _outputs(self) -> Any:
        declared = to_python(self.run.workflow.outputs)
        try:
            if declared:
                return to_struct(templates.resolve(declared, self.state.scope(), "outputs"))
            # The last steps' outputs as recorded, copied in C rather than converted from Python.
            leaves = struct_pb2.Struct()
            for sid, dependents in self._dependents.items():
                if not dependents:
                    step = self.state.steps[sid]
                    leaves.fields[sid].CopyFrom(step.output if step.HasField("output") else NULL)
            if leaves.ByteSize() > MAX_VALUE_BYTES:
                what = "outputs (the last steps' outputs, as no outputs are declared)"
                raise LimitExceeded(f"{what} are larger than {MAX_VALUE_BYTES // MiB} MiB")
            return leaves
        except (expressions.ExpressionError, LimitExceeded) as exc:
            raise RunFailure(
                run_error("INVALID_ARGUMENT", f"outputs: {exc}", reason="EXPRESSION_FAILED")
            ) from None
