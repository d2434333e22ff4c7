"""The SQLite run store (the default).

WAL mode with synchronous=NORMAL: a committed transaction survives the gateway
being killed (kill -9, OOM); only an OS crash or power loss may take the last
few commits. Events are the durable history; a run's row holds its latest
snapshot so that GetRun and ListRuns never replay.

Two connections, each owned by one thread: every write transaction and every
read is one call into its thread, so each costs one hop off the event loop,
transactions cannot interleave, and reads only ever see committed data.
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

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
)
from agentmesh_gateway.store.sqlite_registry import SqliteRegistry
from agentmesh_gateway.store.sqlite_schema import private, upgrade

T = TypeVar("T")


class SqliteRunStore(SqliteRegistry):
    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._writer: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._write_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._read_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")

    async def open(self) -> None:
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        private(self._path)
        self._writer = await self._on(self._write_thread, self._connect_writer)
        self._reader = await self._on(self._read_thread, self._connect)

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA busy_timeout=5000")
        return connection

    def _connect_writer(self) -> sqlite3.Connection:
        connection = self._connect()
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        upgrade(connection)
        return connection

    async def close(self) -> None:
        for connection, thread in ((self._reader, self._read_thread), (self._writer, self._write_thread)):
            if connection is not None:
                await self._on(thread, connection.close)
        self._reader = self._writer = None

    @staticmethod
    async def _on(thread: ThreadPoolExecutor, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(thread, work)

    async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            db = self._writer
            if db is None:
                raise RuntimeError("the store is not open")
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return await self._on(self._write_thread, run)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._reader is None:
                raise RuntimeError("the store is not open")
            return work(self._reader)

        return await self._on(self._read_thread, run)

    async def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self._read(lambda db: db.execute(sql, params).fetchall())

    async def write(self, batch: Batch) -> WriteResult:
        # One gateway per file: no leases, so nothing is ever fenced.
        events = [(e.run_id, e.sequence, e.data) for e in batch.events]
        snapshots = [(s.data, s.state, s.wake_at, s.run_id) for s in batch.snapshots]
        calls = [(c.agent, c.ok, c.millis, c.tokens) for c in batch.calls]

        def write(db: sqlite3.Connection) -> dict[str, bytes]:
            taken: dict[str, bytes] = {}
            for new in batch.runs:
                run = new.snapshot
                key = new.idempotency_key or None
                inserted = db.execute(
                    "INSERT INTO runs (run_id, request_id, state, create_time, snapshot, owner, workflow,"
                    " workflow_key, workflow_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (request_id) DO NOTHING",
                    (
                        run.run_id, key, run.state, new.create_time_ns, run.data, new.owner,
                        new.workflow, fold(new.workflow), new.workflow_version or None,
                    ),
                ).rowcount  # fmt: skip
                if not inserted:
                    found = db.execute("SELECT snapshot FROM runs WHERE request_id = ?", (key,)).fetchone()
                    taken[run.run_id] = bytes(found[0])
                    continue
                first = new.first_event
                db.execute(
                    "INSERT INTO events (run_id, sequence, event) VALUES (?, ?, ?)",
                    (first.run_id, first.sequence, first.data),
                )
            db.executemany("INSERT INTO events (run_id, sequence, event) VALUES (?, ?, ?)", events)
            db.executemany("UPDATE runs SET snapshot = ?, state = ?, wake_at = ? WHERE run_id = ?", snapshots)
            db.executemany("INSERT INTO calls (agent, ok, millis, tokens) VALUES (?, ?, ?, ?)", calls)
            return taken

        try:
            return WriteResult(await self._transaction(write))
        except sqlite3.IntegrityError as exc:
            raise StoreConflict(f"the store refused the batch: {exc}") from exc
        except sqlite3.Error as exc:
            raise StoreError(f"the store could not write the batch: {exc}") from exc

    async def get_run(self, run_id: str) -> run_pb2.Run | None:
        rows = await self._query("SELECT snapshot FROM runs WHERE run_id = ?", (run_id,))
        return run_pb2.Run.FromString(rows[0][0]) if rows else None

    async def run_head(self, run_id: str) -> RunHead | None:
        rows = await self._query("SELECT owner, state FROM runs WHERE run_id = ?", (run_id,))
        return RunHead(str(rows[0][0]), int(rows[0][1])) if rows else None

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
        params: list[object] = []
        if owner is not None:
            clauses.append("owner = ?")
            params.append(owner)
        if state:
            clauses.append("state = ?")
            params.append(state)
        if filters.workflow:
            clauses.append("workflow = ?")
            params.append(filters.workflow)
        if filters.principal:
            clauses.append("owner = ?")
            params.append(filters.principal)
        if filters.query:
            needle = filters.needle
            clauses.append("(substr(run_id, 1, ?) = ? OR instr(workflow_key, ?) > 0)")
            params += [len(needle), needle, needle]
        if page_token:
            before_time, before_id = decode_page_token(page_token)
            clauses.append("(create_time < ? OR (create_time = ? AND run_id < ?))")
            params += [before_time, before_time, before_id]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT snapshot FROM runs {where} ORDER BY create_time DESC, run_id DESC LIMIT ?"  # noqa: S608

        def read(db: sqlite3.Connection) -> tuple[list[bytes], bool]:
            # Rows are read one at a time and the page ends where its bytes would pass
            # max_bytes (after at least one run), so a page of large runs stays sendable.
            rows: list[bytes] = []
            size = 0
            for (snapshot,) in db.execute(query, (*params, page_size + 1)):
                if len(rows) == page_size or (rows and size + len(snapshot) > max_bytes):
                    return rows, True
                rows.append(snapshot)
                size += len(snapshot)
            return rows, False

        rows, more = await self._read(read)
        runs = [run_pb2.Run.FromString(row) for row in rows]
        token = ""
        if more:
            last = runs[-1]
            token = encode_page_token(last.create_time.ToNanoseconds(), last.run_id)
        return Page(runs, token)

    async def events_after(self, run_id: str, after_sequence: int, limit: int) -> list[EventRecord]:
        rows = await self._query(
            "SELECT sequence, event FROM events WHERE run_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
            (run_id, after_sequence, limit),
        )
        # A run's final event is its last one, so only a page's last row can be final: the
        # others are sent as stored, never parsed.
        records = [EventRecord(run_id, sequence, data, terminal=False) for sequence, data in rows[:-1]]
        records += [EventRecord.parse(run_id, sequence, data) for sequence, data in rows[-1:]]
        return records

    async def run_counts(self) -> dict[int, int]:
        rows = await self._query("SELECT state, COUNT(*) FROM runs GROUP BY state")
        return {int(state): int(count) for state, count in rows}

    async def call_stats(self) -> list[CallStats]:
        # Summarized in SQLite, on the reader thread: the calls table grows with every step,
        # and reading it whole into Python held the event loop for most of a second at 200,000.
        def summarize(db: sqlite3.Connection) -> list[CallStats]:
            def nearest_rank(agent: str, count: int, fraction: float) -> float:
                row = db.execute(
                    "SELECT millis FROM calls WHERE agent = ? ORDER BY millis LIMIT 1 OFFSET ?",
                    (agent, max(0, math.ceil(fraction * count) - 1)),
                ).fetchone()
                return float(row[0])

            totals = db.execute(
                "SELECT agent, COUNT(*), SUM(ok), AVG(millis), SUM(tokens) FROM calls GROUP BY agent"
            )
            return [
                CallStats(
                    agent,
                    count,
                    int(ok),
                    float(average),
                    nearest_rank(agent, count, 0.50),
                    nearest_rank(agent, count, 0.95),
                    nearest_rank(agent, count, 0.99),
                    int(tokens),
                )
                for agent, count, ok, average, tokens in totals.fetchall()
            ]

        return await self._read(summarize)

    async def chat_history(self, session_id: str) -> list[tuple[str, str]]:
        rows = await self._query(
            "SELECT role, text FROM chat WHERE session_id = ? ORDER BY turn", (session_id,)
        )
        return [(str(role), str(text)) for role, text in rows]

    async def append_chat(self, session_id: str, turns: Sequence[tuple[str, str]]) -> None:
        def append(db: sqlite3.Connection) -> None:
            found = db.execute(
                "SELECT COALESCE(MAX(turn), 0) FROM chat WHERE session_id = ?", (session_id,)
            ).fetchone()
            first = int(found[0]) + 1
            db.executemany(
                "INSERT INTO chat (session_id, turn, role, text) VALUES (?, ?, ?, ?)",
                [(session_id, first + i, role, text) for i, (role, text) in enumerate(turns)],
            )

        await self._transaction(append)

    async def unfinished_runs(self) -> list[str]:
        marks = ",".join("?" * len(FINISHED_STATES))
        rows = await self._query(
            f"SELECT run_id FROM runs WHERE state NOT IN ({marks}) AND state != ?"  # noqa: S608
            " AND (state != ? OR run_id IN (SELECT run_id FROM inputs)) ORDER BY create_time",
            (*FINISHED_STATES, run_pb2.RUN_STATE_SLEEPING, run_pb2.RUN_STATE_WAITING_FOR_INPUT),
        )
        return [row[0] for row in rows]

    async def add_input(self, answer: PendingInput) -> bool:
        item = -1 if answer.item is None else answer.item

        def add(db: sqlite3.Connection) -> bool:
            added = db.execute(
                "INSERT INTO inputs (run_id, step_id, item, turn, answer, principal, added)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    answer.run_id,
                    answer.step_id,
                    item,
                    answer.turn,
                    answer.answer,
                    answer.principal,
                    time.time_ns(),
                ),
            ).rowcount
            return bool(added)

        return await self._transaction(add)

    async def pending_inputs(self, run_id: str) -> list[PendingInput]:
        rows = await self._query(
            "SELECT step_id, item, turn, answer, principal FROM inputs WHERE run_id = ? ORDER BY added",
            (run_id,),
        )
        return [
            PendingInput(run_id, step_id, None if item < 0 else item, turn, bytes(answer), principal)
            for step_id, item, turn, answer, principal in rows
        ]

    async def drop_inputs(self, answers: Sequence[PendingInput]) -> None:
        keys = [(a.run_id, a.step_id, -1 if a.item is None else a.item, a.turn) for a in answers]

        def drop(db: sqlite3.Connection) -> None:
            db.executemany(
                "DELETE FROM inputs WHERE run_id = ? AND step_id = ? AND item = ? AND turn = ?", keys
            )

        if keys:
            await self._transaction(drop)

    async def wake(self, run_id: str) -> int | None:
        def wake(db: sqlite3.Connection) -> bool:
            return bool(
                db.execute(
                    "UPDATE runs SET state = ?, wake_at = NULL WHERE run_id = ? AND state IN (?, ?)",
                    (run_pb2.RUN_STATE_RUNNING, run_id, *PARKED_STATES),
                ).rowcount
            )

        return 0 if await self._transaction(wake) else None

    async def due_runs(self, limit: int) -> list[str]:
        rows = await self._query(
            "SELECT run_id FROM runs WHERE wake_at <= ? AND state IN (?, ?) ORDER BY wake_at LIMIT ?",
            (time.time_ns(), *PARKED_STATES, limit),
        )
        return [row[0] for row in rows]
