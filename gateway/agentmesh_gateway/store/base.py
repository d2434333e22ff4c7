"""The run store interface. The engine depends on this alone (and on `shared`, what a store shared
by replicas adds), so another database can follow."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from google.protobuf.message import DecodeError

from agentmesh.v1 import run_pb2
from agentmesh_gateway.store.registry import Registry

TERMINAL_EVENTS = frozenset({"run_completed", "run_failed", "run_cancelled"})


class StoreError(Exception):
    """A write the store could not make, whatever its driver: nothing of the batch was written."""


class StoreConflict(StoreError):
    """The batch would break the store's integrity (an event's sequence already taken, say): the
    writer's view of a run is not the store's. Nothing of the batch was written."""


class VersionTaken(StoreConflict):
    """A version of the workflow is registered already, with another definition."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """A run event serialized once: the same bytes are stored and sent to every watcher."""

    run_id: str
    sequence: int
    data: bytes
    terminal: bool

    @classmethod
    def of(cls, event: run_pb2.RunEvent) -> EventRecord:
        terminal = event.WhichOneof("event") in TERMINAL_EVENTS
        return cls(event.run_id, event.sequence, event.SerializeToString(), terminal)

    @classmethod
    def parse(cls, run_id: str, sequence: int, data: bytes) -> EventRecord:
        try:
            terminal = run_pb2.RunEvent.FromString(data).WhichOneof("event") in TERMINAL_EVENTS
        except DecodeError:
            terminal = False  # an event that cannot be read is not a known end; resuming says more
        return cls(run_id, sequence, data, terminal)

    def event(self) -> run_pb2.RunEvent:
        return run_pb2.RunEvent.FromString(self.data)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A run's snapshot, serialized at the moment it matched the durable log."""

    run_id: str
    state: int
    data: bytes
    #: A parked run's next timer (ns since the epoch): when the store's `due_runs` names it.
    wake_at: int | None = None

    @classmethod
    def of(cls, run: run_pb2.Run) -> Snapshot:
        wake_at = None
        if run.state in PARKED_STATES and run.HasField("wake_time"):
            wake_at = run.wake_time.ToNanoseconds()
        return cls(run.run_id, run.state, run.SerializeToString(), wake_at)


@dataclass(frozen=True, slots=True)
class NewRun:
    """A run to create, together with its first event."""

    snapshot: Snapshot
    request_id: str
    create_time_ns: int
    first_event: EventRecord
    #: Who started it (the run's principal); empty without authentication.
    owner: str = ""
    #: Its workflow's name (ListRuns filters by it), and the version it pinned.
    workflow: str = ""
    workflow_version: str = ""

    @property
    def idempotency_key(self) -> str:
        """What makes two requests the same: the request_id, within one principal's requests
        (another principal's request_id must neither find nor block this one's run)."""
        if not self.request_id:
            return ""
        return f"{self.owner}\n{self.request_id}" if self.owner else self.request_id

    @classmethod
    def of(cls, run: run_pb2.Run, first_event: run_pb2.RunEvent) -> NewRun:
        return cls(
            Snapshot.of(run),
            run.request_id,
            run.create_time.ToNanoseconds(),
            EventRecord.of(first_event),
            run.principal,
            run.workflow.name,
            run.workflow.version,
        )


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One agent call (one attempt of a step or item): of which run, to whom, whether it
    succeeded, how long it took. It is the run's data like its events: fenced as they are."""

    run_id: str
    agent: str
    ok: bool
    millis: float
    #: Tokens the agent reported spending on the call (prompt and output).
    tokens: int = 0


@dataclass(frozen=True, slots=True)
class RunHead:
    """A run's owner (its principal, empty if nobody known) and state, as its row keeps them."""

    owner: str
    state: int

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES


@dataclass(frozen=True, slots=True)
class PendingInput:
    """An answer to a step's question, accepted but not yet recorded in the run's history: the
    gateway executing the run records it (StepInputProvided) and forgets it."""

    run_id: str
    step_id: str
    #: The for_each item, or None for a plain step.
    item: int | None
    #: The question's turn (InputRequest.turn): a turn is answered once.
    turn: int
    #: The answer, an encoded AgentMessage.
    answer: bytes
    principal: str = ""


@dataclass(frozen=True, slots=True)
class CallStats:
    """One agent's calls so far: how many, how many succeeded, their latency (ms), and the tokens
    they reported.

    Percentiles are nearest-rank over every counted call.
    """

    agent: str
    executions: int
    successes: int
    average_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    tokens: int


@dataclass(frozen=True, slots=True)
class Batch:
    """What one transaction writes. Events of one run are in sequence order.

    `fences`: for each run whose events, snapshot or calls the batch holds, the fencing token of
    the lease its writer holds. A store shared by replicas refuses every write of a run whose
    token is no longer the run's (another replica has taken the run over); a store of one gateway
    has no leases and ignores them.
    """

    runs: Sequence[NewRun] = ()
    events: Sequence[EventRecord] = ()
    snapshots: Sequence[Snapshot] = ()
    calls: Sequence[CallRecord] = ()
    fences: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WriteResult:
    """`taken`: new runs not created because their idempotency key was taken, each mapped to the
    existing run's snapshot. `fenced`: runs whose events, snapshot and calls were refused because
    the writer's lease on them is gone; everything else in the batch was written."""

    taken: dict[str, bytes] = field(default_factory=dict)
    fenced: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RunFilters:
    """What ListRuns may ask for beyond a state (each empty: no filter)."""

    #: The workflow's exact name.
    workflow: str = ""
    #: The principal that started the run (Run.principal).
    principal: str = ""
    #: A run id prefix, or a case-insensitive part of the workflow's name.
    query: str = ""

    @property
    def needle(self) -> str:
        """`query` as the store compares it: run ids are lowercase hex, names are compared casefolded."""
        return fold(self.query)


NO_FILTERS = RunFilters()


def workflow_names(rows: Iterable[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """(run_id, its workflow's name) of stored (run_id, snapshot) rows: how a store from before
    runs kept their workflow's name beside them fills it in."""
    names = []
    for run_id, snapshot in rows:
        try:
            name = run_pb2.Run.FromString(snapshot).workflow.name
        except DecodeError:
            name = ""  # unreadable: listed under no workflow (resuming it says more)
        names.append((run_id, name))
    return names


def fold(text: str) -> str:
    """A name as the query filter compares it, the same whatever the database's locale: the stores
    keep each run's workflow name folded here, in Python, next to the name itself."""
    return text.casefold()


@dataclass(frozen=True, slots=True)
class Page:
    runs: list[run_pb2.Run]
    next_page_token: str


class RunStore(Registry, Protocol):
    """Runs (as snapshots) and their append-only event logs."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, batch: Batch) -> WriteResult:
        """Commit the batch atomically: create its runs, append its events, replace its snapshots.

        A new run whose request_id is already taken is not created (`WriteResult.taken`); a run
        whose lease has passed to another replica gets none of its events or snapshot written
        (`WriteResult.fenced`). Raises StoreConflict for a batch that breaks the store's integrity
        and StoreError when the driver fails; either way nothing of the batch is written.
        """
        ...

    async def get_run(self, run_id: str) -> run_pb2.Run | None: ...

    async def run_head(self, run_id: str) -> RunHead | None:
        """Who started the run and its state, or None if there is no such run: what a visibility
        check and a watch need, read without the run's snapshot."""
        ...

    async def list_runs(
        self,
        *,
        state: int,
        page_size: int,
        page_token: str,
        max_bytes: int,
        owner: str | None = None,
        filters: RunFilters = NO_FILTERS,
    ) -> Page:
        """Runs newest first, optionally of one state, of one owner (principal: the caller's
        isolation) and matching `filters`; raises ValueError for a bad page token.

        A page holds at most `page_size` runs and, past its first, no more than `max_bytes`
        of stored snapshots. A page token marks where its page ended in the listing order, so
        the next page is right whatever the filters, as long as they stay the same."""
        ...

    async def events_after(self, run_id: str, after_sequence: int, limit: int) -> list[EventRecord]: ...

    async def unfinished_runs(self) -> list[str]:
        """Ids of runs to resume: neither succeeded, failed nor cancelled, nor sleeping, and not
        waiting for input (unless an answer is pending), oldest first. (A sleeping run whose
        timer is due is woken by whoever reads `due_runs`.)"""
        ...

    async def add_input(self, answer: PendingInput) -> bool:
        """Keep an answer until the run's executor records it; False if that turn of that step
        (and item) has an answer already. A shared store tells the replicas (see `follow`)."""
        ...

    async def pending_inputs(self, run_id: str) -> list[PendingInput]:
        """The run's answers not yet recorded, in the order they came."""
        ...

    async def drop_inputs(self, answers: Sequence[PendingInput]) -> None:
        """Forget answers now recorded in their runs' histories."""
        ...

    async def wake(self, run_id: str) -> int | None:
        """Take a parked run (waiting for input, or sleeping) back to RUNNING, to execute it here;
        the fencing token of the lease that comes with it (0 on a store of one gateway), or None
        if it was not parked."""
        ...

    async def due_runs(self, limit: int) -> list[str]:
        """Parked runs whose timer is due (their `wake_at` has passed), soonest due first."""
        ...

    async def run_counts(self) -> dict[int, int]:
        """How many runs are in each state."""
        ...

    async def call_stats(self) -> list[CallStats]:
        """Per agent, the calls counted so far, summarized where the data is."""
        ...

    async def chat_history(self, session_id: str) -> list[tuple[str, str]]:
        """A chat session's turns, oldest first: (role, text) with role "user" or "assistant"."""
        ...

    async def append_chat(self, session_id: str, turns: Sequence[tuple[str, str]]) -> None: ...


def location_label(location: str) -> str:
    """A store's location as logs and errors show it: a URL's password replaced by ***."""
    scheme, sep, rest = location.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return location
    return f"{scheme}{sep}{credentials.split(':', 1)[0]}:***@{host}"


FINISHED_STATES = (run_pb2.RUN_STATE_SUCCEEDED, run_pb2.RUN_STATE_FAILED, run_pb2.RUN_STATE_CANCELLED)
#: Runs with nothing to do until an answer comes or a timer fires: no gateway executes them.
PARKED_STATES = (run_pb2.RUN_STATE_WAITING_FOR_INPUT, run_pb2.RUN_STATE_SLEEPING)


def encode_page_token(create_time: int, run_id: str) -> str:
    """ListRuns' next-page token: where the page ended, in the order runs are listed."""
    return base64.urlsafe_b64encode(f"{create_time}:{run_id}".encode()).decode()


def decode_page_token(token: str) -> tuple[int, str]:
    try:
        created, run_id = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        return int(created), run_id
    except (ValueError, UnicodeDecodeError):
        raise ValueError("is not one this server issued") from None
