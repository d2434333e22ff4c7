"""The event log: every run event is committed to the store before any watcher sees it.

Appends from all runs are grouped: while one transaction commits, the next
batch gathers, so many concurrent runs (and new runs) share one commit. Each
event is serialized once; the same bytes are stored and sent to every watcher.
After a commit the events go to live subscribers through bounded queues. A
subscriber that falls behind is marked overflowed instead of slowing anyone
down; its stream then continues from the store (see `watch`). Run snapshots
ride along with the events, paced (see `gateway.snapshots`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from agentmesh.errors import Unavailable
from agentmesh.v1 import run_pb2
from agentmesh_gateway import prometheus
from agentmesh_gateway.snapshots import SNAPSHOT_INTERVAL, Committed, SnapshotPacer
from agentmesh_gateway.store.base import Batch, CallRecord, EventRecord, NewRun, RunStore

log = logging.getLogger("agentmesh.gateway.events")

SUBSCRIBER_QUEUE = 1024
REPLAY_PAGE = 500


class StoreUnavailable(Unavailable):
    """Events could not be committed: nothing in that batch is durable."""

    reason = "STORE_UNAVAILABLE"


class LeaseLost(StoreUnavailable):
    """Another replica holds the run now: nothing more of it is recorded here."""

    reason = "LEASE_LOST"


class Overflowed(Exception):
    """The subscriber fell more than its queue's length behind."""


#: Put in a subscriber's queue to make its watch read the store: events it will not be sent.
_POKE = EventRecord("", 0, b"", terminal=False)


@dataclass(eq=False)
class Subscriber:
    run_id: str
    queue: asyncio.Queue[EventRecord] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    overflowed: bool = False

    async def next(self) -> EventRecord:
        if self.overflowed and self.queue.empty():
            raise Overflowed
        return await self.queue.get()


#: Events after which the run's snapshot is written at once, not when due: the stored state
#: (waiting for input) decides whether restarts and other replicas take the run up, and a
#: question must be in the run as read (ProvideInput checks it there) once its event is seen.
SNAPSHOT_AT_ONCE = frozenset({"run_waiting", "step_input_required"})


@dataclass
class _Append:
    record: EventRecord
    snapshot: run_pb2.Run
    #: The fencing token of the writer's lease on the run (see `store.base.Batch`).
    fence: int
    done: asyncio.Future[None]
    at_once: bool = False


@dataclass
class _Create:
    run: NewRun
    done: asyncio.Future[bytes | None]


class EventLog:
    def __init__(self, store: RunStore, snapshot_interval: float = SNAPSHOT_INTERVAL) -> None:
        self._store = store
        self._appends: list[_Append] = []
        self._creates: list[_Create] = []
        self._calls: list[tuple[CallRecord, int]] = []
        self._wake = asyncio.Event()
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._writer: asyncio.Task[None] | None = None
        self._snapshots = SnapshotPacer(snapshot_interval)
        self._snapshot_timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="event-log-writer")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None
            if self._snapshot_timer is not None:
                self._snapshot_timer.cancel()
            # What is still queued, and every snapshot that lags the log, before the store closes.
            appends, creates, calls = self._appends, self._creates, self._calls
            self._appends, self._creates, self._calls = [], [], []
            await self._commit(appends, creates, calls, flush=True)

    async def create(self, run: run_pb2.Run, first_event: run_pb2.RunEvent) -> run_pb2.Run | None:
        """Store a new run with its first event; if its request_id is taken, return that run instead."""
        done: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
        self._creates.append(_Create(NewRun.of(run, first_event), done))
        self._wake.set()
        existing = await done
        return None if existing is None else run_pb2.Run.FromString(existing)

    def append(self, event: run_pb2.RunEvent, snapshot: run_pb2.Run, fence: int) -> asyncio.Future[None]:
        """Queue the event for the next commit; the future resolves once it (and the run's
        snapshot as it is at commit time) is durable. Events are committed in append order.
        `fence`: the token of the writer's lease on the run; a shared store refuses a stale one
        (the future then fails with LeaseLost)."""
        done = asyncio.get_running_loop().create_future()
        at_once = event.WhichOneof("event") in SNAPSHOT_AT_ONCE
        self._appends.append(_Append(EventRecord.of(event), snapshot, fence, done, at_once))
        self._wake.set()
        return done

    def count_call(self, call: CallRecord, fence: int) -> None:
        """Count an agent call; it is written with the next batch of events, without waiting,
        under the same fence as the run's events."""
        self._calls.append((call, fence))
        self._wake.set()

    def subscribe(self, run_id: str) -> Subscriber:
        subscriber = Subscriber(run_id)
        self._subscribers.setdefault(run_id, set()).add(subscriber)
        return subscriber

    def watched(self) -> list[str]:
        """Runs someone watches here now."""
        return list(self._subscribers)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.run_id)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[subscriber.run_id]

    async def watch(
        self, run_id: str, after_sequence: int, subscriber: Subscriber | None = None
    ) -> AsyncIterator[EventRecord]:
        """Events after `after_sequence`, in order, each once: recorded history first, then live.

        Subscribing before reading the store closes the gap between the two: any
        event committed after the read is in the queue, and duplicates are
        skipped by sequence. A caller that subscribed before the run's events
        after `after_sequence` existed passes its `subscriber`, and no history is
        read. Ends after the run's final event.
        """
        last = after_sequence
        replay = subscriber is None
        while True:
            subscriber = subscriber or self.subscribe(run_id)
            try:
                while replay:
                    page = await self._store.events_after(run_id, last, REPLAY_PAGE)
                    for record in page:
                        yield record
                        last = record.sequence
                        if record.terminal:
                            return
                    replay = len(page) == REPLAY_PAGE
                while True:
                    record = await subscriber.next()
                    if record.sequence <= last:
                        continue
                    yield record
                    last = record.sequence
                    if record.terminal:
                        return
            except Overflowed:
                replay = True  # fell behind: read what was missed from the store, then follow again
            finally:
                self.unsubscribe(subscriber)
            subscriber = None

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            appends, self._appends = self._appends, []
            creates, self._creates = self._creates, []
            calls, self._calls = self._calls, []
            await self._commit(appends, creates, calls)
            self._wake_for_snapshots()

    def _wake_for_snapshots(self) -> None:
        """Make sure a commit comes when a snapshot left behind falls due, even if no event does."""
        due = self._snapshots.next_due()
        if due is not None and (self._snapshot_timer is None or self._snapshot_timer.cancelled()):
            self._snapshot_timer = asyncio.get_running_loop().call_later(due, self._snapshot_due)

    def _snapshot_due(self) -> None:
        self._snapshot_timer = None
        self._wake.set()

    async def _commit(
        self,
        appends: list[_Append],
        creates: list[_Create],
        calls: list[tuple[CallRecord, int]],
        flush: bool = False,
    ) -> None:
        last = {
            a.record.run_id: Committed(a.record.sequence, a.record.terminal, a.snapshot, a.fence, a.at_once)
            for a in appends
        }
        snapshots = self._snapshots.take(last, flush=flush)
        if not (appends or creates or calls or snapshots):
            return
        # Each run's latest token in the batch: a run adopted again mid-batch writes under the new one.
        fences = {call.run_id: fence for call, fence in calls}
        fences |= {snapshot.run_id: fence for snapshot, fence in snapshots}
        fences |= {a.record.run_id: a.fence for a in appends}
        batch = Batch(
            [c.run for c in creates],
            [a.record for a in appends],
            [snapshot for snapshot, _ in snapshots],
            [call for call, _ in calls],
            fences,
        )
        try:
            with prometheus.STORE_COMMIT.time():
                result = await self._store.write(batch)
        except Exception:
            log.exception("recording events failed", extra={"events": len(appends), "runs": len(creates)})
            waiting: list[asyncio.Future[Any]] = [a.done for a in appends] + [c.done for c in creates]
            for done in waiting:
                if not done.done():
                    done.set_exception(StoreUnavailable("the run store failed to record events"))
            return
        taken = result.taken
        for create in creates:
            existing = taken.get(create.run.snapshot.run_id)
            if not create.done.done():
                create.done.set_result(existing)
            if existing is None:
                self._snapshots.created(create.run.snapshot.run_id)
                self._publish(create.run.first_event)
        for append in appends:
            if append.record.run_id in result.fenced:
                if not append.done.done():
                    append.done.set_exception(LeaseLost("another replica has taken the run over"))
                continue
            if not append.done.done():
                append.done.set_result(None)
            self._publish(append.record)

    def poke(self, run_id: str) -> None:
        """Another replica committed events of this run: its watchers here read them from the store."""
        for subscriber in self._subscribers.get(run_id, ()):
            subscriber.overflowed = True
            with contextlib.suppress(asyncio.QueueFull):
                subscriber.queue.put_nowait(_POKE)

    def _publish(self, record: EventRecord) -> None:
        for subscriber in self._subscribers.get(record.run_id, ()):
            if subscriber.overflowed:
                continue
            try:
                subscriber.queue.put_nowait(record)
            except asyncio.QueueFull:
                subscriber.overflowed = True
