"""The event log: every run event is committed to the store before any watcher sees it.

Appends from all runs are grouped: while one transaction commits, the next
batch gathers, so many concurrent runs share one commit. After a commit the
events go to live subscribers through bounded queues. A subscriber that falls
behind is marked overflowed instead of slowing anyone down; its stream then
continues from the store (see `watch`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from agentmesh.v1 import run_pb2
from gateway.store.base import CallRecord, RunStore, Snapshot

log = logging.getLogger("agentmesh.gateway.events")

SUBSCRIBER_QUEUE = 1024
REPLAY_PAGE = 500
TERMINAL = frozenset({"run_completed", "run_failed", "run_cancelled"})


def is_terminal(event: run_pb2.RunEvent) -> bool:
    return event.WhichOneof("event") in TERMINAL


class Overflowed(Exception):
    """The subscriber fell more than its queue's length behind."""


@dataclass(eq=False)
class Subscriber:
    run_id: str
    queue: asyncio.Queue[run_pb2.RunEvent] = field(default_factory=lambda: asyncio.Queue(SUBSCRIBER_QUEUE))
    overflowed: bool = False

    async def next(self) -> run_pb2.RunEvent:
        if self.overflowed and self.queue.empty():
            raise Overflowed
        return await self.queue.get()


@dataclass
class _Pending:
    event: run_pb2.RunEvent
    snapshot: run_pb2.Run
    done: asyncio.Future[None]


class EventLog:
    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._pending: list[_Pending] = []
        self._calls: list[CallRecord] = []
        self._wake = asyncio.Event()
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="event-log-writer")

    async def stop(self) -> None:
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
            self._writer = None

    async def append(self, event: run_pb2.RunEvent, snapshot: run_pb2.Run) -> None:
        """Return once the event (and the run's snapshot as it is at commit time) is durable."""
        done = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(event, snapshot, done))
        self._wake.set()
        await done

    def count_call(self, call: CallRecord) -> None:
        """Count an agent call; it is written with the next batch of events, without waiting."""
        self._calls.append(call)
        self._wake.set()

    def subscribe(self, run_id: str) -> Subscriber:
        subscriber = Subscriber(run_id)
        self._subscribers.setdefault(run_id, set()).add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        subscribers = self._subscribers.get(subscriber.run_id)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._subscribers[subscriber.run_id]

    async def watch(self, run_id: str, after_sequence: int) -> AsyncIterator[run_pb2.RunEvent]:
        """Events after `after_sequence`, in order, each once: recorded history first, then live.

        Subscribing before reading the store closes the gap between the two: any
        event committed after the read is in the queue, and duplicates are
        skipped by sequence. Ends after the run's final event.
        """
        last = after_sequence
        while True:
            subscriber = self.subscribe(run_id)
            try:
                while True:
                    page = await self._store.events_after(run_id, last, REPLAY_PAGE)
                    for event in page:
                        yield event
                        last = event.sequence
                        if is_terminal(event):
                            return
                    if len(page) < REPLAY_PAGE:
                        break
                while True:
                    event = await subscriber.next()
                    if event.sequence <= last:
                        continue
                    yield event
                    last = event.sequence
                    if is_terminal(event):
                        return
            except Overflowed:
                continue  # fell behind: read what was missed from the store, then follow again
            finally:
                self.unsubscribe(subscriber)

    async def _write_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._pending = self._pending, []
            calls, self._calls = self._calls, []
            if batch or calls:
                await self._commit(batch, calls)

    async def _commit(self, batch: list[_Pending], calls: list[CallRecord]) -> None:
        # A snapshot is written only when it matches the batch's last event of its run: a run
        # whose state is already ahead (events applied, still queued) waits for a later batch,
        # so a stored snapshot never claims more than the durable log holds.
        last: dict[str, _Pending] = {p.event.run_id: p for p in batch}
        snapshots = [
            Snapshot.of(p.snapshot) for p in last.values() if p.snapshot.last_sequence == p.event.sequence
        ]
        try:
            await self._store.record([p.event for p in batch], snapshots, calls)
        except Exception as exc:
            log.exception("recording events failed", extra={"events": len(batch)})
            for pending in batch:
                if not pending.done.done():
                    pending.done.set_exception(exc)
            return
        for pending in batch:
            if not pending.done.done():
                pending.done.set_result(None)
            self._publish(pending.event)

    def _publish(self, event: run_pb2.RunEvent) -> None:
        for subscriber in self._subscribers.get(event.run_id, ()):
            if subscriber.overflowed:
                continue
            try:
                subscriber.queue.put_nowait(event)
            except asyncio.QueueFull:
                subscriber.overflowed = True
