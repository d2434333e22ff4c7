"""The engine: starts, cancels and resumes runs, each executed by its own RunExecutor."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentmesh.errors import InvalidInput, NotFound
from agentmesh.messages import dict_to_struct, timestamp_now
from agentmesh.v1 import run_pb2, workflow_pb2
from gateway.agents import AgentDirectory
from gateway.events import REPLAY_PAGE, EventLog, Subscriber
from gateway.execution import RunExecutor
from gateway.state import RunState
from gateway.store.base import EventRecord, Page, RunStore
from gateway.validation import apply_inputs, validate

log = logging.getLogger("agentmesh.gateway")

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
VALIDATED_CACHE = 256


def new_run_id() -> str:
    """32 hex digits: milliseconds since the epoch, then 80 random bits (as in UUIDv7).

    Time-ordered ids land at the end of the store's indexes instead of at random places,
    and sort by creation; the id is also the run's trace id, which needs 128 bits.
    """
    return f"{time.time_ns() // 1_000_000:012x}{secrets.randbits(80):020x}"


@dataclass(frozen=True)
class RunRequest:
    """What starting a run takes: the workflow (only read: the run stores a copy), inputs,
    context, and the client's idempotency key."""

    workflow: workflow_pb2.Workflow
    inputs: Mapping[str, Any]
    context: run_pb2.RunContext
    request_id: str = ""


class Engine:
    def __init__(
        self, store: RunStore, agents: AgentDirectory, workflows: Mapping[str, workflow_pb2.Workflow]
    ) -> None:
        self.store = store
        self.agents = agents
        self.events = EventLog(store)
        self._workflows = dict(workflows)
        self._executors: dict[str, RunExecutor] = {}
        # Clients tend to submit the same few workflows over and over.
        self._valid: dict[bytes, list[str]] = {}

    async def start(self) -> None:
        """Open the store, follow agent health, and resume every run a previous gateway left unfinished."""
        await self.store.open()
        self.events.start()
        self.agents.start()
        for run_id in await self.store.unfinished_runs():
            await self._resume(run_id)

    async def stop(self) -> None:
        """Interrupt runs without ending them (the next start resumes them), then close everything."""
        await asyncio.gather(*(executor.interrupt() for executor in list(self._executors.values())))
        await self.events.stop()
        await self.agents.stop()
        await self.store.close()

    @property
    def workflows_by_name(self) -> dict[str, workflow_pb2.Workflow]:
        return dict(self._workflows)

    def workflow_named(self, name: str) -> workflow_pb2.Workflow:
        try:
            return self._workflows[name]
        except KeyError:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise NotFound(
                f"no workflow named {name!r}; registered: {known}", reason="WORKFLOW_NOT_FOUND"
            ) from None

    def validate(self, workflow: workflow_pb2.Workflow) -> list[str]:
        """The execution order, or InvalidInput with every problem; a valid workflow is checked once."""
        key = workflow.SerializeToString(deterministic=True)
        order = self._valid.get(key)
        if order is None:
            order = validate(workflow, self.agents.names)
            if len(self._valid) >= VALIDATED_CACHE:
                self._valid.pop(next(iter(self._valid)))
            self._valid[key] = order
        return list(order)

    async def start_run(self, request: RunRequest) -> run_pb2.Run:
        """Validate, store the run with its first event atomically, and start executing it."""
        run, _ = await self._start(request, watch=False)
        return run

    async def run_and_watch(self, request: RunRequest) -> AsyncIterator[EventRecord]:
        """Start a run as `start_run` does, and follow its events from the first."""
        run, subscriber = await self._start(request, watch=True)
        return self.events.watch(run.run_id, 0, subscriber)

    async def _start(self, request: RunRequest, *, watch: bool) -> tuple[run_pb2.Run, Subscriber | None]:
        workflow, context, request_id = request.workflow, request.context, request.request_id
        self.validate(workflow)
        run_inputs = apply_inputs(workflow, request.inputs)
        now = timestamp_now()
        run = run_pb2.Run(
            run_id=new_run_id(),
            workflow=workflow,
            state=run_pb2.RUN_STATE_RUNNING,
            inputs=dict_to_struct(run_inputs),
            context=context,
            request_id=request_id,
            create_time=now,
            start_time=now,
            steps=[run_pb2.StepRun(step_id=s.id, state=run_pb2.STEP_STATE_PENDING) for s in workflow.steps],
            last_sequence=1,
        )
        first = run_pb2.RunEvent(run_id=run.run_id, sequence=1, event_time=now)
        first.run_started.run.CopyFrom(run)
        # A watcher subscribed before the run exists misses nothing and needs no replay.
        subscriber = self.events.subscribe(run.run_id) if watch else None
        try:
            existing = await self.events.create(run, first)
        except BaseException:
            if subscriber is not None:
                self.events.unsubscribe(subscriber)
            raise
        if existing is not None:
            if subscriber is not None:
                self.events.unsubscribe(subscriber)
            return existing, None
        log.debug("run started", extra={"run_id": run.run_id, "workflow": workflow.name})
        self._launch(RunExecutor(RunState(run), self.events, self.agents), resumed=False)
        return run_pb2.Run.FromString(run.SerializeToString()), subscriber

    async def cancel_run(self, run_id: str, reason: str) -> run_pb2.Run:
        executor = self._executors.get(run_id)
        if executor is not None:
            await executor.cancel(reason)
        return await self.get_run(run_id)

    async def get_run(self, run_id: str) -> run_pb2.Run:
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFound(f"no run {run_id!r}", reason="RUN_NOT_FOUND")
        return run

    async def list_runs(self, state: int, page_size: int, page_token: str) -> Page:
        if page_size < 0:
            raise InvalidInput.field("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            return await self.store.list_runs(state=state, page_size=size, page_token=page_token)
        except ValueError as exc:
            raise InvalidInput.field("page_token", str(exc)) from None

    def _launch(self, executor: RunExecutor, *, resumed: bool) -> None:
        self._executors[executor.run_id] = executor
        task = executor.start(resumed=resumed)
        task.add_done_callback(lambda _: self._executors.pop(executor.run_id, None))

    async def _resume(self, run_id: str) -> None:
        records: list[EventRecord] = []
        while page := await self.store.events_after(
            run_id, records[-1].sequence if records else 0, REPLAY_PAGE
        ):
            records.extend(page)
        events = [record.event() for record in records]
        if not events or events[0].WhichOneof("event") != "run_started":
            log.error("cannot resume a run without its start event", extra={"run_id": run_id})
            return
        state = RunState(run_pb2.Run.FromString(events[0].run_started.run.SerializeToString()))
        for event in events:
            state.apply(event)
        if state.finished:
            return
        log.info("resuming run", extra={"run_id": run_id, "in_flight": state.in_flight()})
        self._launch(RunExecutor(state, self.events, self.agents), resumed=True)
