"""The run store interface. The engine depends on this alone, so another database can follow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from agentmesh.v1 import run_pb2


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A run's snapshot, serialized at the moment it matched the durable log."""

    run_id: str
    state: int
    data: bytes

    @classmethod
    def of(cls, run: run_pb2.Run) -> Snapshot:
        return cls(run.run_id, run.state, run.SerializeToString())


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One agent call (one attempt of a step or item): who, whether it succeeded, how long it took."""

    agent: str
    ok: bool
    millis: float


@dataclass(frozen=True, slots=True)
class Page:
    runs: list[run_pb2.Run]
    next_page_token: str


class RunStore(Protocol):
    """Runs (as snapshots) and their append-only event logs.

    Writes are atomic: a run is created together with its first event, and a
    batch of events is recorded together with the snapshots it changes.
    """

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def create_run(self, run: run_pb2.Run, first_event: run_pb2.RunEvent) -> run_pb2.Run | None:
        """Store a new run; if its request_id is taken, store nothing and return the existing run."""
        ...

    async def record(
        self,
        events: Sequence[run_pb2.RunEvent],
        snapshots: Sequence[Snapshot],
        calls: Sequence[CallRecord] = (),
    ) -> None:
        """Append events (in sequence order per run), replace the snapshots they change, count calls."""
        ...

    async def get_run(self, run_id: str) -> run_pb2.Run | None: ...

    async def list_runs(self, *, state: int, page_size: int, page_token: str) -> Page:
        """Runs newest first, optionally of one state; raises ValueError for a bad page token."""
        ...

    async def events_after(self, run_id: str, after_sequence: int, limit: int) -> list[run_pb2.RunEvent]: ...

    async def unfinished_runs(self) -> list[str]:
        """Ids of runs that are neither succeeded, failed nor cancelled, oldest first."""
        ...

    async def run_counts(self) -> dict[int, int]:
        """How many runs are in each state."""
        ...

    async def calls(self) -> list[CallRecord]:
        """Every agent call counted so far."""
        ...

    async def chat_history(self, session_id: str) -> list[tuple[str, str]]:
        """A chat session's turns, oldest first: (role, text) with role "user" or "assistant"."""
        ...

    async def append_chat(self, session_id: str, turns: Sequence[tuple[str, str]]) -> None: ...
