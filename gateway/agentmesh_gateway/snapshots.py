"""Pacing run snapshots: which runs' snapshot rows a commit rewrites.

A run's snapshot (the row GetRun and ListRuns read) is the whole run, workflow
included, so rewriting it with every event would make a long run's commits grow
with its length. Instead a snapshot is rewritten at most every `interval` per run,
and always with the run's final event. It is only ever written when it matches
the durable log exactly (never a state whose events are still queued), so GetRun
may lag the live run by about `interval`, while WatchRun stays exact.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from agentmesh.v1 import run_pb2
from agentmesh_gateway.store.base import Snapshot

SNAPSHOT_INTERVAL = 0.1


@dataclass(frozen=True, slots=True)
class Committed:
    """A run's last event in a batch: its sequence, whether it ends the run, the live run, and
    the fencing token its writer holds."""

    sequence: int
    terminal: bool
    run: run_pb2.Run
    fence: int
    #: The snapshot must be written with this batch, due or not (the run has just started to
    #: wait for input: claims and restarts read that from the stored state).
    now: bool = False


class SnapshotPacer:
    def __init__(self, interval: float = SNAPSHOT_INTERVAL) -> None:
        self.interval = interval
        self._written: dict[str, float] = {}  # run id → when its snapshot was last written
        self._durable: dict[str, int] = {}  # run id → last sequence committed (or about to be)
        self._dirty: dict[str, tuple[run_pb2.Run, int]] = {}  # runs whose stored snapshot is behind
        self._final: set[str] = set()

    def created(self, run_id: str) -> None:
        """A run was stored with its first snapshot."""
        self._written[run_id] = time.monotonic()

    def take(self, batch: dict[str, Committed], *, flush: bool = False) -> list[tuple[Snapshot, int]]:
        """The snapshots to write with a batch holding these runs' last events (or none), each
        with its writer's fencing token.

        `flush` writes every snapshot that matches the log, due or not (shutdown).
        """
        urgent = {run_id for run_id, last in batch.items() if last.now}
        for run_id, last in batch.items():
            self._durable[run_id] = last.sequence
            self._dirty[run_id] = (last.run, last.fence)
            if last.terminal:
                self._final.add(run_id)
        now = time.monotonic()
        out: list[tuple[Snapshot, int]] = []
        for run_id, (run, fence) in list(self._dirty.items()):
            if run.last_sequence != self._durable[run_id]:
                continue  # the live run is ahead of the log; a later batch will catch up
            final = run_id in self._final
            due = now - self._written.get(run_id, -math.inf) >= self.interval
            if not (final or flush or due or run_id in urgent):
                continue
            out.append((Snapshot.of(run), fence))
            del self._dirty[run_id]
            if final:
                self._forget(run_id)
            else:
                self._written[run_id] = now
        return out

    def next_due(self) -> float | None:
        """Seconds until the earliest pending snapshot is due, if any is pending."""
        if not self._dirty:
            return None
        earliest = min(self._written.get(run_id, -math.inf) for run_id in self._dirty)
        return max(0.0, earliest + self.interval - time.monotonic())

    def _forget(self, run_id: str) -> None:
        self._written.pop(run_id, None)
        self._durable.pop(run_id, None)
        self._final.discard(run_id)
