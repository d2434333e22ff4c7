"""The PostgreSQL run store (`postgresql://…` store URLs), shared by any number of gateway replicas.

The same `RunStore` as the SQLite one, row for row: a run's row holds its latest snapshot,
events are its append-only history keyed by (run_id, sequence), and a batch (the event log's
group commit: every event, new run, snapshot and call record that arrived together) is one
transaction. Driver: asyncpg, a connection pool per gateway. The schema is versioned; a gateway
applies the migrations it knows on start, under an advisory lock, so replicas starting together
apply each once.

Replicas: each unfinished run is executed by the replica holding its lease, a row lease (owner,
expiry, fencing token) on the run itself. Row leases and not advisory locks: a lease must outlive
a connection blip and be visible to every replica, and its token must be checked inside the very
transaction that writes (Kleppmann's fencing): a batch locks the rows of its runs FOR SHARE and
writes nothing of a run whose token is not the writer's, so a replica that was paused past its
lease (SIGSTOP, a long GC, a partition) and wakes up cannot append to a run another replica has
taken over. Claims take expired leases with FOR UPDATE SKIP LOCKED, so replicas never wait on each
other. Committed events are announced with NOTIFY (run ids only; watchers read the rows), and so are
cancellations asked for on a replica that does not hold the run. An advisory lock per process says
only whether the holder of a lease is alive (`postgres_liveness`): the leases of a process that
died are released at once, and claimed as any others, with new tokens.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from agentmesh.v1 import run_pb2
from agentmesh_gateway.store.base import (
    FINISHED_STATES,
    NO_FILTERS,
    PARKED_STATES,
    Batch,
    CallStats,
    EventRecord,
    Page,
    PendingInput,
    RunFilters,
    RunHead,
    StoreConflict,
    StoreError,
    WriteResult,
    decode_page_token,
    encode_page_token,
    fold,
    location_label,
    workflow_names,
)
from agentmesh_gateway.store.postgres_leases import EVENTS_CHANNEL, INPUT_CHANNEL, PostgresLeases
from agentmesh_gateway.store.postgres_liveness import PostgresLiveness
from agentmesh_gateway.store.postgres_registry import PostgresRegistry
from agentmesh_gateway.store.postgres_schema import MIGRATIONS

#: Runs whose workflow name is filled in per statement when a store from before it is opened.
_FILL_BATCH = 1000
#: NOTIFY payloads must stay under 8,000 bytes.
_PAYLOAD_BYTES = 7000
DEFAULT_LEASE_SECONDS = 6.0

# Any fixed number: the lock that serializes migrations across replicas.
_MIGRATION_LOCK = 0x61676D65  # "agme"


class PostgresRunStore(PostgresLeases, PostgresLiveness, PostgresRegistry):
    def __init__(
        self,
        url: str,
        *,
        replica: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        min_connections: int = 1,
        max_connections: int = 10,
    ) -> None:
        self._url = url
        self._sizes = (min_connections, max_connections)
        self._pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._lock: asyncpg.Connection | None = None
        self._lock_key: int | None = None
        self.replica = replica or uuid.uuid4().hex[:12]
        self.lease_seconds = lease_seconds

    def __str__(self) -> str:
        return location_label(self._url)

    async def open(self) -> None:
        try:
            pool = await asyncpg.create_pool(self._url, min_size=self._sizes[0], max_size=self._sizes[1])
        except (OSError, asyncpg.PostgresError) as exc:
            raise OSError(f"cannot open the store {self}: {exc}") from None
        async with pool.acquire() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await db.execute("CREATE TABLE IF NOT EXISTS agentmesh_schema (version integer NOT NULL)")
            applied = await db.fetchval("SELECT max(version) FROM agentmesh_schema") or 0
            for version, migration in enumerate(MIGRATIONS[applied:], start=applied + 1):
                await db.execute(migration)
                await db.execute("INSERT INTO agentmesh_schema (version) VALUES ($1)", version)
        await _fill_workflows(pool)
        try:
            await self._hold_liveness()
        except BaseException:
            await pool.close()
            raise
        self._pool = pool

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        await self._let_go()  # last: once the lock is free, other replicas release what is left

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("the store is not open")
        return self._pool

    async def write(self, batch: Batch) -> WriteResult:
        try:
            return await self._write(batch)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise StoreConflict(f"the store refused the batch: {exc}") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreError(f"the store could not write the batch: {exc}") from exc

    async def _write(self, batch: Batch) -> WriteResult:
        taken: dict[str, bytes] = {}
        created = {new.snapshot.run_id for new in batch.runs}
        written = {e.run_id for e in batch.events} | {s.run_id for s in batch.snapshots}
        guarded = (written | {c.run_id for c in batch.calls}) - created
        async with self.pool.acquire() as db, db.transaction():
            fenced: set[str] = set()
            if guarded:
                # FOR SHARE: a claim (an UPDATE of these rows) waits for this transaction, and this
                # one sees a claim that committed first.
                rows = await db.fetch(
                    "SELECT run_id, fence, lease_owner FROM runs WHERE run_id = ANY($1::text[]) FOR SHARE",
                    sorted(guarded),
                )
                holds = {r["run_id"]: (r["fence"], r["lease_owner"]) for r in rows}
                fenced = {
                    run_id
                    for run_id in guarded
                    if holds.get(run_id) != (batch.fences.get(run_id), self.replica)
                }
            first_events: list[tuple[str, int, bytes]] = []
            for new in batch.runs:
                run = new.snapshot
                key = new.idempotency_key or None
                inserted = await db.fetchval(
                    "INSERT INTO runs (run_id, request_id, state, create_time, snapshot, owner,"
                    " lease_owner, lease_until, fence, workflow, workflow_key, workflow_version, lease_key)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8), 1, $9, $10, $11,"
                    " $12) ON CONFLICT (request_id) DO NOTHING RETURNING run_id",
                    run.run_id, key, run.state, new.create_time_ns, run.data, new.owner,
                    self.replica, self.lease_seconds, new.workflow, fold(new.workflow),
                    new.workflow_version or None, self._lock_key,
                )  # fmt: skip
                if inserted is None:
                    taken[run.run_id] = bytes(
                        await db.fetchval("SELECT snapshot FROM runs WHERE request_id = $1", key)
                    )
                    continue
                first = new.first_event
                first_events.append((first.run_id, first.sequence, first.data))
            events = first_events + [
                (e.run_id, e.sequence, e.data) for e in batch.events if e.run_id not in fenced
            ]
            if events:
                await db.executemany(
                    "INSERT INTO events (run_id, sequence, event) VALUES ($1, $2, $3)", events
                )
            snapshots = [
                (s.data, s.state, s.wake_at, s.run_id) for s in batch.snapshots if s.run_id not in fenced
            ]
            if snapshots:
                await db.executemany(
                    "UPDATE runs SET snapshot = $1, state = $2, wake_at = $3 WHERE run_id = $4", snapshots
                )
            calls = [(c.agent, c.ok, c.millis, c.tokens) for c in batch.calls if c.run_id not in fenced]
            if calls:
                await db.executemany(
                    "INSERT INTO calls (agent, ok, millis, tokens) VALUES ($1, $2, $3, $4)", calls
                )
            for payload in self._payloads(sorted({run_id for run_id, _, _ in events})):
                await db.execute("SELECT pg_notify($1, $2)", EVENTS_CHANNEL, payload)
        return WriteResult(taken, frozenset(fenced))

    def _payloads(self, run_ids: list[str]) -> list[str]:
        """NOTIFY payloads naming this replica and the runs, each under PostgreSQL's limit."""
        payloads: list[str] = []
        current: list[str] = []
        for run_id in run_ids:
            if current and len(self.replica) + 33 * (len(current) + 1) > _PAYLOAD_BYTES:
                payloads.append(" ".join([self.replica, *current]))
                current = []
            current.append(run_id)
        if current:
            payloads.append(" ".join([self.replica, *current]))
        return payloads

    async def get_run(self, run_id: str) -> run_pb2.Run | None:
        snapshot = await self.pool.fetchval("SELECT snapshot FROM runs WHERE run_id = $1", run_id)
        return run_pb2.Run.FromString(snapshot) if snapshot is not None else None

    async def run_head(self, run_id: str) -> RunHead | None:
        row = await self.pool.fetchrow("SELECT owner, state FROM runs WHERE run_id = $1", run_id)
        return None if row is None else RunHead(str(row["owner"]), int(row["state"]))

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
        clauses: list[str] = []
        params: list[Any] = []

        def param(value: Any) -> str:
            params.append(value)
            return f"${len(params)}"

        if owner is not None:
            clauses.append(f"owner = {param(owner)}")
        if state:
            clauses.append(f"state = {param(state)}")
        if filters.workflow:
            clauses.append(f"workflow = {param(filters.workflow)}")
        if filters.principal:
            clauses.append(f"owner = {param(filters.principal)}")
        if filters.query:
            needle = param(filters.needle)
            clauses.append(f"(starts_with(run_id, {needle}) OR strpos(workflow_key, {needle}) > 0)")
        if page_token:
            before_time, before_id = decode_page_token(page_token)
            at, run = param(before_time), param(before_id)
            clauses.append(f"(create_time < {at} OR (create_time = {at} AND run_id < {run}))")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        limit = param(page_size + 1)
        query = f"SELECT snapshot FROM runs {where} ORDER BY create_time DESC, run_id DESC LIMIT {limit}"  # noqa: S608
        rows: list[bytes] = []
        size = 0
        more = False
        async with self.pool.acquire() as db, db.transaction():
            # Row by row, as the SQLite store reads: a page ends where its bytes would pass
            # max_bytes (after at least one run), so a page of large runs stays sendable.
            async for record in db.cursor(query, *params):
                snapshot = bytes(record[0])
                if len(rows) == page_size or (rows and size + len(snapshot) > max_bytes):
                    more = True
                    break
                rows.append(snapshot)
                size += len(snapshot)
        runs = [run_pb2.Run.FromString(row) for row in rows]
        token = ""
        if more:
            last = runs[-1]
            token = encode_page_token(last.create_time.ToNanoseconds(), last.run_id)
        return Page(runs, token)

    async def events_after(self, run_id: str, after_sequence: int, limit: int) -> list[EventRecord]:
        rows = await self.pool.fetch(
            "SELECT sequence, event FROM events WHERE run_id = $1 AND sequence > $2"
            " ORDER BY sequence LIMIT $3",
            run_id, after_sequence, limit,
        )  # fmt: skip
        # Only a page's last row can be a run's final event: the others are sent as stored.
        records = [EventRecord(run_id, r["sequence"], bytes(r["event"]), terminal=False) for r in rows[:-1]]
        records += [EventRecord.parse(run_id, r["sequence"], bytes(r["event"])) for r in rows[-1:]]
        return records

    async def run_counts(self) -> dict[int, int]:
        rows = await self.pool.fetch("SELECT state, count(*) AS n FROM runs GROUP BY state")
        return {int(r["state"]): int(r["n"]) for r in rows}

    async def call_stats(self) -> list[CallStats]:
        # percentile_disc is the nearest-rank percentile the SQLite store computes by hand.
        rows = await self.pool.fetch(
            "SELECT agent, count(*) AS n, sum(ok::int) AS ok, avg(millis) AS mean,"
            " percentile_disc(0.5) WITHIN GROUP (ORDER BY millis) AS p50,"
            " percentile_disc(0.95) WITHIN GROUP (ORDER BY millis) AS p95,"
            " percentile_disc(0.99) WITHIN GROUP (ORDER BY millis) AS p99,"
            " sum(tokens) AS tokens"
            " FROM calls GROUP BY agent"
        )
        return [
            CallStats(
                r["agent"], int(r["n"]), int(r["ok"]), float(r["mean"]), float(r["p50"]), float(r["p95"]),
                float(r["p99"]), int(r["tokens"]),
            )
            for r in rows
        ]  # fmt: skip

    async def chat_history(self, session_id: str) -> list[tuple[str, str]]:
        rows = await self.pool.fetch(
            "SELECT role, text FROM chat WHERE session_id = $1 ORDER BY turn", session_id
        )
        return [(str(r["role"]), str(r["text"])) for r in rows]

    async def append_chat(self, session_id: str, turns: Sequence[tuple[str, str]]) -> None:
        async with self.pool.acquire() as db, db.transaction():
            # Two appends to one session at once (two replicas, say) take turns.
            await db.execute("SELECT pg_advisory_xact_lock(hashtext($1))", session_id)
            last = await db.fetchval(
                "SELECT coalesce(max(turn), 0) FROM chat WHERE session_id = $1", session_id
            )
            await db.executemany(
                "INSERT INTO chat (session_id, turn, role, text) VALUES ($1, $2, $3, $4)",
                [(session_id, last + 1 + i, role, text) for i, (role, text) in enumerate(turns)],
            )

    async def unfinished_runs(self) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT run_id FROM runs WHERE NOT (state = ANY($1::integer[])) AND state != $3"
            " AND (state != $2 OR run_id IN (SELECT run_id FROM inputs)) ORDER BY create_time",
            list(FINISHED_STATES), run_pb2.RUN_STATE_WAITING_FOR_INPUT, run_pb2.RUN_STATE_SLEEPING,
        )  # fmt: skip
        return [str(r["run_id"]) for r in rows]

    async def add_input(self, answer: PendingInput) -> bool:
        async with self.pool.acquire() as db, db.transaction():
            added = await db.fetchval(
                "INSERT INTO inputs (run_id, step_id, item, turn, answer, principal)"
                " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING run_id",
                answer.run_id, answer.step_id, -1 if answer.item is None else answer.item, answer.turn,
                answer.answer, answer.principal,
            )  # fmt: skip
            if added is not None:
                await db.execute("SELECT pg_notify($1, $2)", INPUT_CHANNEL, answer.run_id)
        return added is not None

    async def pending_inputs(self, run_id: str) -> list[PendingInput]:
        rows = await self.pool.fetch(
            "SELECT step_id, item, turn, answer, principal FROM inputs WHERE run_id = $1 ORDER BY added",
            run_id,
        )
        return [
            PendingInput(
                run_id,
                str(r["step_id"]),
                None if r["item"] < 0 else int(r["item"]),
                int(r["turn"]),
                bytes(r["answer"]),
                str(r["principal"]),
            )
            for r in rows
        ]

    async def drop_inputs(self, answers: Sequence[PendingInput]) -> None:
        if answers:
            await self.pool.executemany(
                "DELETE FROM inputs WHERE run_id = $1 AND step_id = $2 AND item = $3 AND turn = $4",
                [(a.run_id, a.step_id, -1 if a.item is None else a.item, a.turn) for a in answers],
            )

    async def wake(self, run_id: str) -> int | None:
        # The lease comes with it, so no other replica claims the run meanwhile.
        fence = await self.pool.fetchval(
            "UPDATE runs SET state = $2, wake_at = NULL, lease_owner = $3,"
            " lease_until = now() + make_interval(secs => $4), fence = fence + 1, lease_key = $6"
            " WHERE run_id = $1 AND state = ANY($5::integer[]) RETURNING fence",
            run_id, run_pb2.RUN_STATE_RUNNING, self.replica, self.lease_seconds, list(PARKED_STATES),
            self._lock_key,
        )  # fmt: skip
        return None if fence is None else int(fence)

    async def due_runs(self, limit: int) -> list[str]:
        rows = await self.pool.fetch(
            "SELECT run_id FROM runs WHERE wake_at <= $1 AND state = ANY($2::integer[])"
            " ORDER BY wake_at LIMIT $3",
            time.time_ns(), list(PARKED_STATES), limit,
        )  # fmt: skip
        return [str(r["run_id"]) for r in rows]


async def _fill_workflows(pool: asyncpg.Pool) -> None:
    """Give the runs of a store from before ListRuns filtered by workflow their workflow's name,
    read from their snapshots (once: new runs are stored with it). Replicas starting together may
    both fill a row, with the same value."""
    while rows := await pool.fetch(
        "SELECT run_id, snapshot FROM runs WHERE workflow IS NULL LIMIT $1", _FILL_BATCH
    ):
        named = workflow_names((str(r["run_id"]), bytes(r["snapshot"])) for r in rows)
        await pool.executemany(
            "UPDATE runs SET workflow = $2, workflow_key = $3 WHERE run_id = $1",
            [(run_id, name, fold(name)) for run_id, name in named],
        )
