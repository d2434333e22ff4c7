"""The engine: the one API every surface of the gateway (gRPC, HTTP, A2A, MCP) calls.

It starts runs (validated by the workflow catalogue, stored with their first event, launched by
the run owner), follows, cancels, gets and lists them, and says which agents and workflows there
are. Each call that reads runs takes the `owner` whose runs the caller may see (None: every run),
so tenant isolation is the engine's, not each surface's. Executing runs is `gateway.runs`;
replicas' leases are `gateway.replicas`, which talks to the run owner alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence

from agentmesh.errors import FailedPrecondition, InvalidInput, NotFound, echo
from agentmesh.messages import timestamp_now
from agentmesh.v1 import message_pb2, run_pb2, workflow_pb2
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh_gateway import metrics, prometheus
from agentmesh_gateway.admission import Admission
from agentmesh_gateway.agents import AgentDirectory
from agentmesh_gateway.alarm import Alarm
from agentmesh_gateway.answers import check_answer, may_answer, pending, waiting_request
from agentmesh_gateway.catalog import WorkflowCatalog
from agentmesh_gateway.events import REPLAY_PAGE, EventLog, Subscriber
from agentmesh_gateway.execution import RunServices
from agentmesh_gateway.limits import MAX_LIST_PAGE_BYTES
from agentmesh_gateway.payloads import RunData
from agentmesh_gateway.pricing import Prices
from agentmesh_gateway.replicas import LeaseKeeper
from agentmesh_gateway.run_request import RunRequest, new_run_id
from agentmesh_gateway.runs import RunOwner
from agentmesh_gateway.schedules import Schedules
from agentmesh_gateway.store.base import (
    FINISHED_STATES,
    NO_FILTERS,
    PARKED_STATES,
    EventRecord,
    Page,
    RunFilters,
    RunHead,
    RunStore,
)
from agentmesh_gateway.store.shared import SharedRunStore
from agentmesh_gateway.validation import apply_inputs, check_run_data

log = logging.getLogger("agentmesh.gateway")

MAX_PAGE_SIZE = 500
DEFAULT_PAGE_SIZE = 50
#: ListRuns' filters: a name or a query longer than this is no name anyone gave.
MAX_FILTER_CHARS = 256
#: The most events `history` reads of one run.
MAX_HISTORY_EVENTS = 10_000


class Engine:
    def __init__(
        self,
        store: RunStore,
        agents: AgentDirectory,
        workflows: Mapping[str, workflow_pb2.Workflow],
        admission: Admission | None = None,
        prices: Prices | None = None,
        clock: Callable[[], float] = time.time,
        schedules: Sequence[pb.Schedule] = (),
    ) -> None:
        """`prices`: what models cost per million tokens, for runs' usage and cost budgets.
        `schedules`: those the gateway is started with (a mesh file's), made so at start.
        `clock`: the time schedules fire by (seconds since the epoch)."""
        self.store = store
        self._agents = agents
        self._admission = admission or Admission()
        prometheus.follow_admission(self._admission)
        self._events = EventLog(store)
        self._catalog = WorkflowCatalog(workflows, lambda: agents.names, store)
        services = RunServices(store, self._events, agents, self, prices or Prices())
        self._runs = RunOwner(services, self._admission)
        self._alarm = Alarm(self._runs)
        self._schedules = Schedules(store, self, clock, given=schedules)
        # A store shared with other replicas: runs are executed by whoever holds their lease.
        self._keeper = LeaseKeeper(self._runs, store) if isinstance(store, SharedRunStore) else None

    async def start(self) -> None:
        """Open the store, follow agent health, and resume every run a previous gateway left unfinished."""
        await self.store.open()
        await self._catalog.start()
        prometheus.runs_counted(await self.store.run_counts())
        self._events.start()
        self._agents.start()
        if self._keeper is not None:
            await self._keeper.start()  # claims what nobody holds, this gateway's share among it
        else:
            await self._runs.resume_unfinished()
        self._alarm.start()
        await self._schedules.start()

    async def stop(self) -> None:
        """Interrupt runs without ending them (the next start resumes them, or another replica
        takes them over at once), then close everything."""
        await self._schedules.stop()
        await self._alarm.stop()
        if self._keeper is not None:
            await self._keeper.stop()
        held = await self._runs.interrupt_all()
        await self._events.stop()
        if self._keeper is not None:
            await self._keeper.hand_over(held)
        await self._agents.stop()
        await self._catalog.stop()
        await self.store.close()

    # --- workflows and agents ----------------------------------------------------------------

    def workflows(self) -> dict[str, workflow_pb2.Workflow]:
        return self._catalog.by_name()

    def workflow(self, name: str) -> workflow_pb2.Workflow:
        """NAME's latest version, or NAME@VERSION, as this gateway knows them now."""
        return self._catalog.named(name)

    async def resolve_workflow(self, name: str) -> workflow_pb2.Workflow:
        """As `workflow`, reading the store for a version registered elsewhere a moment ago."""
        return await self._catalog.resolve(name)

    async def apply_workflow(self, workflow: workflow_pb2.Workflow) -> tuple[workflow_pb2.Workflow, bool]:
        """Validate and register a workflow; it as registered (version set), and whether it is new."""
        return await self._catalog.apply(workflow)

    async def workflow_versions(self, name: str | None = None) -> list[pb.WorkflowVersion]:
        """Every registered version (of one workflow), newest first within a name, with its runs."""
        return await self._catalog.versions_with_runs(name)

    @property
    def schedules(self) -> Schedules:
        """Create, read, change and fire schedules (the engine starts their runs)."""
        return self._schedules

    async def validate(self, workflow: workflow_pb2.Workflow) -> list[str]:
        """The execution order, or InvalidInput with every problem; a valid workflow is checked once."""
        return await self._catalog.validate(workflow)

    def agents(self) -> list[pb.AgentStatus]:
        return self._agents.statuses()

    async def metrics(self) -> pb.Metrics:
        return await metrics.collect(self.store)

    # --- runs ---------------------------------------------------------------------------------

    async def start_run(self, request: RunRequest) -> run_pb2.Run:
        """Validate, store the run with its first event atomically, and start executing it."""
        run, _ = await self._start(request, watch=False)
        return run

    async def run_and_watch(self, request: RunRequest) -> AsyncIterator[EventRecord]:
        """Start a run as `start_run` does and follow its events from the first; the watcher's
        place is taken first, so a stream refused at capacity starts no run."""
        with self._admission.watcher():
            run, subscriber = await self._start(request, watch=True)
            async for record in self._events.watch(run.run_id, 0, subscriber):
                yield record

    async def watch(
        self,
        run_id: str,
        after_sequence: int,
        owner: str | None = None,
        *,
        admitted: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[EventRecord]:
        """The run's events after `after_sequence`, recorded ones first, then live, to its end.

        `admitted` is awaited once the watch is accepted (the run is the caller's to see, and a
        watcher's place is taken), before the first event, which may be a long time coming: a
        surface opens its stream there, so that a refusal and an open stream are told apart."""
        if after_sequence < 0:
            raise InvalidInput.field("after_sequence", "must not be negative")
        head = await self._check_owner(run_id, owner)
        with self._admission.watcher():
            if admitted is not None:
                await admitted()
            if head.finished:  # its history is all there is: replay it and close, whatever the cursor
                while page := await self.store.events_after(run_id, after_sequence, REPLAY_PAGE):
                    for record in page:
                        yield record
                    after_sequence = page[-1].sequence
                return
            async for record in self._events.watch(run_id, after_sequence):
                yield record

    async def history(
        self, run_id: str, owner: str | None = None, limit: int = MAX_HISTORY_EVENTS
    ) -> list[run_pb2.RunEvent]:
        """The run's recorded events, oldest first, at most `limit` of them (a conversation's
        messages are read from here; following a run is `watch`)."""
        await self._check_owner(run_id, owner)
        events: list[run_pb2.RunEvent] = []
        while len(events) < limit and (
            page := await self.store.events_after(run_id, len(events), REPLAY_PAGE)
        ):
            events += [record.event() for record in page]
        return events[:limit]

    async def get_run(self, run_id: str, owner: str | None = None) -> run_pb2.Run:
        run = await self.store.get_run(run_id)
        if run is None or (owner is not None and run.principal != owner):
            raise _not_found(run_id)
        return run

    async def cancel_run(self, run_id: str, reason: str, owner: str | None = None) -> run_pb2.Run:
        await self._check_owner(run_id, owner)
        if await self._runs.cancel(run_id, reason):
            return await self.get_run(run_id)
        run = await self.get_run(run_id)
        # A parked run (waiting for input, sleeping) has no executor anywhere: take it up here to end it.
        if run.state in PARKED_STATES and await self._runs.wake(run_id):
            await self._runs.cancel(run_id, reason)
            return await self.get_run(run_id)
        if isinstance(self.store, SharedRunStore) and run.state not in FINISHED_STATES:
            # Executed by another replica: it cancels at once on the notification.
            await self.store.request_cancel(run_id, reason or "cancelled")
        return run

    async def provide_input(
        self,
        run_id: str,
        step_id: str,
        item: int | None,
        answer: message_pb2.AgentMessage,
        principal: str = "",
        owner: str | None = None,
    ) -> run_pb2.Run:
        """Answer the question a step (or item) waits on: checked against its schema, kept, then
        recorded by whoever executes the run (woken here if nobody does). A question that names
        who may answer it (an ask step's principals) may be answered by them whoever owns the run."""
        run = await self.get_run(run_id)
        request = waiting_request(run, step_id, item)
        if (
            owner is not None
            and run.principal != owner
            and (request is None or owner not in request.principals)
        ):
            raise _not_found(run_id)
        if request is None:
            which = f"step {echo(step_id)}" + ("" if item is None else f" item {item}")
            raise FailedPrecondition(
                f"{which} of run {echo(run_id)} is not waiting for input", reason="NOT_WAITING"
            )
        may_answer(request)
        check_answer(request, answer)
        if not await self.store.add_input(pending(run_id, request, answer, principal)):
            # An answer to this very turn is stored but not taken: it was given to the asking that
            # a gateway lost when it died, and the question has been asked again since. Hand it
            # over now (the first answer wins), or the run would wait for ever.
            await self._runs.deliver(run_id)
            raise FailedPrecondition("that question has been answered already", reason="ALREADY_ANSWERED")
        await self._runs.deliver(run_id)
        return await self.get_run(run_id)

    async def list_runs(
        self,
        state: int,
        page_size: int,
        page_token: str,
        owner: str | None = None,
        filters: RunFilters = NO_FILTERS,
    ) -> Page:
        """Runs newest first; `owner` is the caller's isolation, `filters` what it asks for."""
        if page_size < 0:
            raise InvalidInput.field("page_size", "must not be negative")
        for name, value in (
            ("workflow_name", filters.workflow),
            ("principal", filters.principal),
            ("query", filters.query),
        ):
            if len(value) > MAX_FILTER_CHARS:
                raise InvalidInput.field(name, f"at most {MAX_FILTER_CHARS} characters")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        try:
            return await self.store.list_runs(
                state=state,
                page_size=size,
                page_token=page_token,
                max_bytes=MAX_LIST_PAGE_BYTES,
                owner=owner,
                filters=filters,
            )
        except ValueError as exc:
            raise InvalidInput.field("page_token", str(exc)) from None

    # --- child runs (sub-workflow steps) -------------------------------------------------------

    async def outcome(self, run_id: str) -> run_pb2.Run:
        run = await self.get_run(run_id)
        if run.state not in FINISHED_STATES:
            # From the snapshot's cursor: the events after it are replayed, then followed live.
            async for record in self._events.watch(run_id, run.last_sequence):
                if record.terminal:
                    break
            run = await self.get_run(run_id)
        return run

    async def _check_owner(self, run_id: str, owner: str | None) -> RunHead:
        """NOT_FOUND unless the run exists and `owner` may see it (read without its snapshot)."""
        head = await self.store.run_head(run_id)
        if head is None or (owner is not None and head.owner != owner):
            raise _not_found(run_id)
        return head

    async def _start(self, request: RunRequest, *, watch: bool) -> tuple[run_pb2.Run, Subscriber | None]:
        self._admission.reserve_run()
        launched = False
        try:
            run, subscriber, launched = await self._create(request, watch=watch)
        finally:
            if not launched:
                self._admission.release_run()
        return run, subscriber

    async def _create(
        self, request: RunRequest, *, watch: bool
    ) -> tuple[run_pb2.Run, Subscriber | None, bool]:
        """Store the run and launch it; (run, subscriber, whether a new run was launched)."""
        workflow, context, request_id = request.workflow, request.context, request.request_id
        await self.validate(workflow)
        run_inputs = apply_inputs(workflow, RunData.of(request.inputs))
        shared = RunData(struct=context.shared)
        check_run_data(run_inputs, shared)
        now = timestamp_now()
        run = run_pb2.Run(
            run_id=new_run_id(),
            workflow=workflow,
            state=run_pb2.RUN_STATE_RUNNING,
            inputs=run_inputs.struct,
            context=context,
            request_id=request_id,
            principal=request.principal,
            traceparent=request.traceparent,
            depth=request.depth,
            schedule=request.schedule,
            create_time=now,
            start_time=now,
            steps=[run_pb2.StepRun(step_id=s.id, state=run_pb2.STEP_STATE_PENDING) for s in workflow.steps],
            last_sequence=1,
        )
        if request.parent is not None:
            run.parent.CopyFrom(request.parent)
        first = run_pb2.RunEvent(run_id=run.run_id, sequence=1, event_time=now)
        first.run_started.run.CopyFrom(run)
        # A watcher subscribed before the run exists misses nothing and needs no replay.
        subscriber = self._events.subscribe(run.run_id) if watch else None
        try:
            existing = await self._events.create(run, first)
        except BaseException:
            if subscriber is not None:
                self._events.unsubscribe(subscriber)
            raise
        if existing is not None:
            if subscriber is not None:
                self._events.unsubscribe(subscriber)
            return existing, None, False
        log.debug("run started", extra={"run_id": run.run_id, "workflow": workflow.name})
        prometheus.run_started()
        self._runs.launch(run, run_inputs, shared)
        # The run as it started, for the caller: the first event holds a copy (never changed
        # once recorded) that the executor's own does not share.
        return first.run_started.run, subscriber, True


def _not_found(run_id: str) -> NotFound:
    # Another principal's run is not PERMISSION_DENIED: that would tell a caller which ids exist.
    return NotFound(f"no run {echo(run_id)}", reason="RUN_NOT_FOUND")
