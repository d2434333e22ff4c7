"""The engine: starts, cancels and resumes runs, each executed by its own RunExecutor."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from agentmesh.errors import InvalidInput, NotFound, echo
from agentmesh.messages import dict_to_struct, struct_to_dict, timestamp_now
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway import prometheus
from agentmesh_gateway.admission import Admission
from agentmesh_gateway.agents import AgentDirectory
from agentmesh_gateway.events import REPLAY_PAGE, EventLog, Subscriber
from agentmesh_gateway.execution import RunExecutor
from agentmesh_gateway.failures import run_error
from agentmesh_gateway.limits import MAX_LIST_PAGE_BYTES, MiB
from agentmesh_gateway.replicas import LeaseKeeper
from agentmesh_gateway.state import RunState
from agentmesh_gateway.store.base import (
    FINISHED_STATES,
    Batch,
    EventRecord,
    Page,
    RunStore,
    SharedRunStore,
    Snapshot,
)
from agentmesh_gateway.tracing import export_root_span
from agentmesh_gateway.validation import apply_inputs, check_run_data, check_size, validate

log = logging.getLogger("agentmesh.gateway")

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
#: What the cache of validated workflows may hold (their execution orders, keyed by digest).
VALIDATED_CACHE_BYTES = 4 * MiB
#: Workflows up to this size are validated on the event loop: a thread hop costs more.
INLINE_VALIDATION_BYTES = 64 * 1024


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
    #: Who asks: the run records it as its owner, and agents are told it (empty: nobody known).
    principal: str = ""
    #: The starting call's W3C traceparent, which the run's root span links to.
    traceparent: str = ""


class Engine:
    def __init__(
        self,
        store: RunStore,
        agents: AgentDirectory,
        workflows: Mapping[str, workflow_pb2.Workflow],
        admission: Admission | None = None,
    ) -> None:
        self.store = store
        self.admission = admission or Admission()
        prometheus.follow_admission(self.admission)
        # A store shared with other replicas: runs are executed by whoever holds their lease.
        self._keeper = LeaseKeeper(self, store) if isinstance(store, SharedRunStore) else None
        self.agents = agents
        self.events = EventLog(store)
        self._workflows = dict(workflows)
        self._executors: dict[str, RunExecutor] = {}
        # Clients tend to submit the same few workflows over and over.
        self._valid: OrderedDict[bytes, tuple[str, ...]] = OrderedDict()
        self._valid_bytes = 0
        # One thread: a burst of large workflows waits its turn instead of taking the GIL
        # from the event loop several threads at a time.
        self._validator = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validation")

    async def start(self) -> None:
        """Open the store, follow agent health, and resume every run a previous gateway left unfinished."""
        await self.store.open()
        prometheus.runs_counted(await self.store.run_counts())
        self.events.start()
        self.agents.start()
        if self._keeper is not None:
            await self._keeper.start()  # claims what nobody holds, this gateway's share among it
            return
        for run_id in await self.store.unfinished_runs():
            await self._resume(run_id)

    async def stop(self) -> None:
        """Interrupt runs without ending them (the next start resumes them, or another replica
        takes them over at once), then close everything."""
        if self._keeper is not None:
            await self._keeper.stop()
        held = list(self._executors)
        await asyncio.gather(*(executor.interrupt() for executor in list(self._executors.values())))
        await self.events.stop()
        if self._keeper is not None:
            await self._keeper.hand_over(held)
        await self.agents.stop()
        await self.store.close()
        self._validator.shutdown(wait=False, cancel_futures=True)

    # --- replicas (see agentmesh_gateway.replicas) ------------------------------------------

    def held_fences(self) -> dict[str, int]:
        """The runs this gateway executes, with the fencing tokens of their leases."""
        return {run_id: self.events.fences.get(run_id, 0) for run_id in self._executors}

    def watched_elsewhere(self) -> list[str]:
        """Runs watched here but executed by another replica."""
        return [run_id for run_id in self.events.watched() if run_id not in self._executors]

    async def adopt(self, run_id: str, fence: int) -> None:
        """A run this gateway has just claimed: resume it (or, if it still executes here after a
        lease that lapsed and came back, carry on with the new token)."""
        self.events.fences[run_id] = fence
        if run_id not in self._executors:
            await self._resume(run_id)
        if run_id not in self._executors:  # finished after all, or unreadable and now failed
            self.events.fences.pop(run_id, None)
            if isinstance(self.store, SharedRunStore):
                await self.store.release([run_id])

    async def drop(self, run_id: str) -> None:
        """Stop executing a run whose lease is gone, without ending it: its holder goes on."""
        executor = self._executors.get(run_id)
        if executor is not None:
            await executor.interrupt()

    @property
    def workflows_by_name(self) -> dict[str, workflow_pb2.Workflow]:
        return dict(self._workflows)

    def workflow_named(self, name: str) -> workflow_pb2.Workflow:
        try:
            return self._workflows[name]
        except KeyError:
            known = ", ".join(sorted(self._workflows)) or "none"
            raise NotFound(
                f"no workflow named {echo(name)}; registered: {known}", reason="WORKFLOW_NOT_FOUND"
            ) from None

    async def validate(self, workflow: workflow_pb2.Workflow) -> list[str]:
        """The execution order, or InvalidInput with every problem; a valid workflow is checked once.

        Size and step count are checked first and on the spot; a large workflow is then
        validated on a thread of its own, so the event loop (health checks, other runs)
        goes on meanwhile.
        """
        check_size(workflow)
        key = hashlib.sha256(workflow.SerializeToString(deterministic=True)).digest()
        order = self._valid.get(key)
        if order is not None:
            self._valid.move_to_end(key)
            return list(order)
        names = self.agents.names
        if workflow.ByteSize() <= INLINE_VALIDATION_BYTES:
            found = validate(workflow, names)
        else:
            found = await asyncio.get_running_loop().run_in_executor(
                self._validator, validate, workflow, names
            )
        self._remember(key, tuple(found))
        return found

    def _remember(self, key: bytes, order: tuple[str, ...]) -> None:
        self._valid[key] = order
        self._valid_bytes += _cost(key, order)
        while self._valid_bytes > VALIDATED_CACHE_BYTES:
            old_key, old_order = self._valid.popitem(last=False)
            self._valid_bytes -= _cost(old_key, old_order)

    async def start_run(self, request: RunRequest) -> run_pb2.Run:
        """Validate, store the run with its first event atomically, and start executing it."""
        run, _ = await self._start(request, watch=False)
        return run

    async def run_and_watch(self, request: RunRequest) -> AsyncIterator[EventRecord]:
        """Start a run as `start_run` does, and follow its events from the first."""
        run, subscriber = await self._start(request, watch=True)
        return self.events.watch(run.run_id, 0, subscriber)

    async def _start(self, request: RunRequest, *, watch: bool) -> tuple[run_pb2.Run, Subscriber | None]:
        self.admission.reserve_run()
        launched = False
        try:
            run, subscriber, launched = await self._create(request, watch=watch)
        finally:
            if not launched:
                self.admission.release_run()
        return run, subscriber

    async def _create(
        self, request: RunRequest, *, watch: bool
    ) -> tuple[run_pb2.Run, Subscriber | None, bool]:
        """Store the run and launch it; (run, subscriber, whether a new run was launched)."""
        workflow, context, request_id = request.workflow, request.context, request.request_id
        await self.validate(workflow)
        run_inputs = apply_inputs(workflow, request.inputs)
        check_run_data(run_inputs, struct_to_dict(context.shared))
        now = timestamp_now()
        run = run_pb2.Run(
            run_id=new_run_id(),
            workflow=workflow,
            state=run_pb2.RUN_STATE_RUNNING,
            inputs=dict_to_struct(run_inputs),
            context=context,
            request_id=request_id,
            principal=request.principal,
            traceparent=request.traceparent,
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
            return existing, None, False
        self.events.fences[run.run_id] = 1  # a new run's lease is its creator's, token 1
        log.debug("run started", extra={"run_id": run.run_id, "workflow": workflow.name})
        prometheus.run_started()
        self._launch(RunExecutor(RunState(run), self.events, self.agents), resumed=False)
        return run_pb2.Run.FromString(run.SerializeToString()), subscriber, True

    async def cancel_run(self, run_id: str, reason: str) -> run_pb2.Run:
        executor = self._executors.get(run_id)
        if executor is not None:
            await executor.cancel(reason)
        elif isinstance(self.store, SharedRunStore):
            run = await self.get_run(run_id)
            if run.state not in FINISHED_STATES:
                # Executed by another replica: it cancels at once on the notification.
                await self.store.request_cancel(run_id, reason or "cancelled")
            return run
        return await self.get_run(run_id)

    async def get_run(self, run_id: str) -> run_pb2.Run:
        run = await self.store.get_run(run_id)
        if run is None:
            raise NotFound(f"no run {echo(run_id)}", reason="RUN_NOT_FOUND")
        return run

    async def list_runs(self, state: int, page_size: int, page_token: str, owner: str | None = None) -> Page:
        if page_size < 0:
            raise InvalidInput.field("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            return await self.store.list_runs(
                state=state, page_size=size, page_token=page_token, max_bytes=MAX_LIST_PAGE_BYTES, owner=owner
            )
        except ValueError as exc:
            raise InvalidInput.field("page_token", str(exc)) from None

    def _launch(self, executor: RunExecutor, *, resumed: bool) -> None:
        """Run it; its admission place (reserved by a start, taken back by a resume) ends with it."""
        if resumed:
            self.admission.take_back_run()
        self._executors[executor.run_id] = executor
        task = executor.start(resumed=resumed)

        def ended(_: object) -> None:
            self._executors.pop(executor.run_id, None)
            self.events.fences.pop(executor.run_id, None)
            self.admission.release_run()
            if executor.state.finished:  # not a run left for the next gateway by a stop
                prometheus.run_ended(executor.state.run.state)
                export_root_span(executor.state.run)

        task.add_done_callback(ended)

    async def _resume(self, run_id: str) -> None:
        records: list[EventRecord] = []
        while page := await self.store.events_after(
            run_id, records[-1].sequence if records else 0, REPLAY_PAGE
        ):
            records.extend(page)
        try:
            state = _replay(records)
        except Exception as exc:  # whatever is wrong with one run's history
            # One run that cannot be read back must not keep the others (or the gateway) down.
            log.error("cannot resume run", extra={"run_id": run_id, "error": echo(exc, 300)})
            await self._fail_unreadable(run_id, records[-1].sequence if records else 0)
            return
        if state.finished:
            # Its end was recorded but not the snapshot that says so (the gateway stopped between
            # the two): say so now, or it would look unfinished to every start and every claim.
            fences = {run_id: self.events.fences.get(run_id, 0)}
            await self.store.write(Batch(snapshots=[Snapshot.of(state.run)], fences=fences))
            return
        log.info("resuming run", extra={"run_id": run_id, "in_flight": state.in_flight()})
        self._launch(RunExecutor(state, self.events, self.agents), resumed=True)

    async def _fail_unreadable(self, run_id: str, last_sequence: int) -> None:
        """End a run whose history cannot be replayed as FAILED, saying so."""
        try:
            run = await self.store.get_run(run_id) or run_pb2.Run(run_id=run_id)
        except Exception:  # the snapshot may be as unreadable as the history
            run = run_pb2.Run(run_id=run_id)
        run.last_sequence = last_sequence
        state = RunState(run)
        message = "the run's stored history cannot be read back, so it cannot be resumed; see the gateway log"
        event = run_pb2.RunEvent(run_id=run_id, sequence=last_sequence + 1, event_time=timestamp_now())
        event.run_failed.error.CopyFrom(run_error("DATA_LOSS", message, reason="RUN_UNREADABLE"))
        state.apply(event)
        await self.events.append(event, state.run)


def _replay(records: list[EventRecord]) -> RunState:
    """A run's state from its history; raises if any event cannot be decoded or applied."""
    events = [record.event() for record in records]
    if not events or events[0].WhichOneof("event") != "run_started":
        raise ValueError("the history does not begin with the run's start")
    state = RunState(run_pb2.Run.FromString(events[0].run_started.run.SerializeToString()))
    for event in events:
        state.apply(event)
    return state


def _cost(key: bytes, order: tuple[str, ...]) -> int:
    """About what a cache entry holds in memory: its key, and each step id with its reference."""
    return len(key) + sum(len(step_id) + 64 for step_id in order) + 100
