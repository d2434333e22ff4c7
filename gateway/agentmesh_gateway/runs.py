"""The one owner of the runs this gateway executes: their executors and the fencing tokens of their
leases, launched when a run is created, resumed from their history after a restart, adopted from
a replica that died or handed them over, dropped when another replica takes one over.

Nothing else starts, stops or fences an execution: the engine launches new runs and asks for
cancellations through it, and the lease keeper (replicas) talks to nothing else.
"""

from __future__ import annotations

import asyncio
import logging

from agentmesh.errors import echo
from agentmesh.messages import timestamp_now
from agentmesh.v1 import run_pb2
from agentmesh_gateway import prometheus
from agentmesh_gateway.admission import Admission
from agentmesh_gateway.events import REPLAY_PAGE
from agentmesh_gateway.execution import RunExecutor, RunServices
from agentmesh_gateway.failures import run_error
from agentmesh_gateway.payloads import RunData
from agentmesh_gateway.state import RunState
from agentmesh_gateway.store.base import Batch, EventRecord, Snapshot
from agentmesh_gateway.store.shared import SharedRunStore
from agentmesh_gateway.tracing import export_root_span

log = logging.getLogger("agentmesh.gateway")

#: A new run's lease is its creator's, with the first token.
FIRST_FENCE = 1


class RunOwner:
    def __init__(self, services: RunServices, admission: Admission) -> None:
        self._services = services
        self._store = services.store
        self._events = services.events
        self._admission = admission
        self._executors: dict[str, RunExecutor] = {}

    # --- what others may ask ---------------------------------------------------------------

    def executes(self, run_id: str) -> bool:
        return run_id in self._executors

    def held(self) -> dict[str, int]:
        """The runs executed here, with the fencing tokens of their leases."""
        return {run_id: executor.fence for run_id, executor in self._executors.items()}

    def share_limits(self, replicas: int) -> None:
        """This gateway is one of `replicas` alive: its agents' limits are its share of theirs."""
        self._services.agents.share_limits(replicas)

    def room(self) -> int:
        """How many more runs this gateway may take on (the admission bound less those it has)."""
        return self._admission.max_runs - self._admission.runs

    def watched_elsewhere(self) -> list[str]:
        """Runs watched here but executed by another replica."""
        return [run_id for run_id in self._events.watched() if run_id not in self._executors]

    def answers_arrived(self, run_id: str) -> None:
        """Answers to a run's questions were added to the store: its executor, if here, records them."""
        executor = self._executors.get(run_id)
        if executor is not None:
            executor.answers_arrived()

    def poke(self, run_id: str) -> None:
        """Another replica committed events of this run: its watchers here read them from the store."""
        self._events.poke(run_id)

    # --- launching, stopping -----------------------------------------------------------------

    def launch(self, run: run_pb2.Run, inputs: RunData, shared: RunData) -> None:
        """Execute a run just created here (its admission place already reserved); `inputs` and
        `shared` are its data as checked at its start."""
        self._start(
            RunExecutor(RunState(run, inputs, shared), self._services, FIRST_FENCE),
            resumed=False,
        )

    async def resume_unfinished(self) -> None:
        """After a restart on a store of one gateway: resume every run left unfinished."""
        for run_id in await self._store.unfinished_runs():
            await self._resume(run_id, fence=0)

    async def adopt(self, run_id: str, fence: int) -> None:
        """A run this gateway has just claimed: resume it (or, if it still executes here after a
        lease that lapsed and came back, carry on with the new token)."""
        executor = self._executors.get(run_id)
        if executor is not None:
            executor.fence = fence
            return
        await self._resume(run_id, fence)
        if run_id not in self._executors and isinstance(self._store, SharedRunStore):
            await self._store.release([run_id])  # finished after all, or unreadable and now failed

    async def deliver(self, run_id: str) -> None:
        """Answers to the run's questions were added to the store: the executor records them if
        the run executes here; a run waiting with nobody executing it is woken here."""
        executor = self._executors.get(run_id)
        if executor is not None:
            executor.answers_arrived()
        else:
            await self.wake(run_id)  # if another replica executes it, the store told it

    async def wake(self, run_id: str) -> bool:
        """Execute here a parked run (waiting for input, or sleeping) that no gateway executes;
        False if it was not parked (it executes somewhere, or has ended)."""
        fence = await self._store.wake(run_id)
        if fence is None:
            return False
        await self.adopt(run_id, fence)
        return True

    async def wake_due(self, limit: int) -> int:
        """Wake parked runs whose timer is due, as many as this gateway has room for (at most
        `limit`); how many it woke."""
        room = min(limit, self.room())
        woken = 0
        if room > 0:
            for run_id in await self._store.due_runs(room):
                woken += await self.wake(run_id)  # another replica may have woken it first
        return woken

    async def drop(self, run_id: str) -> None:
        """Stop executing a run whose lease is gone, without ending it: its holder goes on."""
        executor = self._executors.get(run_id)
        if executor is not None:
            await executor.interrupt()

    async def cancel(self, run_id: str, reason: str) -> bool:
        """Cancel a run executed here (its agent calls at once); False if it is not executed here."""
        executor = self._executors.get(run_id)
        if executor is None:
            return False
        await executor.cancel(reason)
        return True

    async def interrupt_all(self) -> list[str]:
        """Stop executing every run without ending it (a stop: the next start, or another replica,
        resumes them); the ids of those that were executing."""
        held = list(self._executors)
        await asyncio.gather(*(executor.interrupt() for executor in list(self._executors.values())))
        return held

    def _start(self, executor: RunExecutor, *, resumed: bool) -> None:
        """Run it; its admission place (reserved by a start, taken back by a resume) ends with it."""
        if resumed:
            self._admission.take_back_run()
        self._executors[executor.run_id] = executor
        task = executor.start(resumed=resumed)

        def ended(_: object) -> None:
            self._executors.pop(executor.run_id, None)
            self._admission.release_run()
            if executor.state.finished:  # not a run left for the next gateway by a stop
                prometheus.run_ended(executor.state.run.state)
                export_root_span(executor.state.run)

        task.add_done_callback(ended)

    # --- resuming ----------------------------------------------------------------------------

    async def _resume(self, run_id: str, fence: int) -> None:
        records: list[EventRecord] = []
        while page := await self._store.events_after(
            run_id, records[-1].sequence if records else 0, REPLAY_PAGE
        ):
            records.extend(page)
        try:
            state = _replay(records)
        except Exception as exc:  # whatever is wrong with one run's history
            # One run that cannot be read back must not keep the others (or the gateway) down.
            log.error("cannot resume run", extra={"run_id": run_id, "error": echo(exc, 300)})
            await self._fail_unreadable(run_id, records[-1].sequence if records else 0, fence)
            return
        if state.finished:
            # Its end was recorded but not the snapshot that says so (the gateway stopped between
            # the two): say so now, or it would look unfinished to every start and every claim.
            await self._store.write(Batch(snapshots=[Snapshot.of(state.run)], fences={run_id: fence}))
            return
        log.info("resuming run", extra={"run_id": run_id, "in_flight": state.in_flight()})
        executor = RunExecutor(state, self._services, fence)
        self._start(executor, resumed=True)

    async def _fail_unreadable(self, run_id: str, last_sequence: int, fence: int) -> None:
        """End a run whose history cannot be replayed as FAILED, saying so."""
        try:
            run = await self._store.get_run(run_id) or run_pb2.Run(run_id=run_id)
        except Exception:  # the snapshot may be as unreadable as the history
            run = run_pb2.Run(run_id=run_id)
        run.last_sequence = last_sequence
        state = RunState(run)
        message = "the run's stored history cannot be read back, so it cannot be resumed; see the gateway log"
        event = run_pb2.RunEvent(run_id=run_id, sequence=last_sequence + 1, event_time=timestamp_now())
        event.run_failed.error.CopyFrom(run_error("DATA_LOSS", message, reason="RUN_UNREADABLE"))
        state.apply(event)
        await self._events.append(event, state.run, fence)


def _replay(records: list[EventRecord]) -> RunState:
    """A run's state from its history; raises if any event cannot be decoded or applied."""
    events = [record.event() for record in records]
    if not events or events[0].WhichOneof("event") != "run_started":
        raise ValueError("the history does not begin with the run's start")
    state = RunState(run_pb2.Run.FromString(events[0].run_started.run.SerializeToString()))
    for event in events:
        state.apply(event)
    return state
