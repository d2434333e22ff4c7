"""The SQLite run store (the default).

WAL mode with synchronous=NORMAL: a committed transaction survives the gateway
being killed (kill -9, OOM); only an OS crash or power loss may take the last
few commits. Events are the durable history; a run's row holds its latest
snapshot so that GetRun and ListRuns never replay.

Two connections: writes go through one, owned by a single thread, one whole
transaction per call; reads use the other (aiosqlite), so they only ever see
committed data.
"""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import aiosqlite

from agentmesh.v1 import run_pb2
from gateway.store.base import CallRecord, Page, Snapshot

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    request_id  TEXT UNIQUE,
    state       INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    snapshot    BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (create_time DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state, create_time DESC, run_id DESC);
CREATE TABLE IF NOT EXISTS events (
    run_id   TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    event    BLOB NOT NULL,
    PRIMARY KEY (run_id, sequence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS calls (
    agent  TEXT NOT NULL,
    ok     INTEGER NOT NULL,
    millis REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chat (
    session_id TEXT NOT NULL,
    turn       INTEGER NOT NULL,
    role       TEXT NOT NULL,
    text       TEXT NOT NULL,
    PRIMARY KEY (session_id, turn)
) WITHOUT ROWID;
"""

T = TypeVar("T")

_FINISHED = (run_pb2.RUN_STATE_SUCCEEDED, run_pb2.RUN_STATE_FAILED, run_pb2.RUN_STATE_CANCELLED)


class SqliteRunStore:
    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._reader: aiosqlite.Connection | None = None
        self._writer: sqlite3.Connection | None = None
        # One thread owns the write connection: each write transaction is one call into it,
        # so a commit costs one hop off the event loop and transactions cannot interleave.
        self._write_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")

    @property
    def db(self) -> aiosqlite.Connection:
        """The connection for reads."""
        if self._reader is None:
            raise RuntimeError("the store is not open")
        return self._reader

    async def open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = await self._write(self._connect_writer)
        self._reader = await aiosqlite.connect(self._path, isolation_level=None)
        await self._reader.execute("PRAGMA busy_timeout=5000")

    def _connect_writer(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA busy_timeout=5000")
        connection.executescript(_SCHEMA)
        return connection

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
        if self._writer is not None:
            await self._write(self._writer.close)
        self._reader = self._writer = None

    async def _write(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._write_thread, work)

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> Callable[[], T]:
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

        return run

    async def create_run(self, run: run_pb2.Run, first_event: run_pb2.RunEvent) -> run_pb2.Run | None:
        row = (
            run.run_id,
            run.request_id or None,
            run.state,
            run.create_time.ToNanoseconds(),
            run.SerializeToString(),
        )
        event = (first_event.run_id, first_event.sequence, first_event.SerializeToString())

        def create(db: sqlite3.Connection) -> bytes | None:
            if run.request_id:
                found = db.execute(
                    "SELECT snapshot FROM runs WHERE request_id = ?", (run.request_id,)
                ).fetchone()
                if found is not None:
                    return bytes(found[0])
            db.execute(
                "INSERT INTO runs (run_id, request_id, state, create_time, snapshot) VALUES (?, ?, ?, ?, ?)",
                row,
            )
            db.execute("INSERT INTO events (run_id, sequence, event) VALUES (?, ?, ?)", event)
            return None

        existing = await self._write(self._transaction(create))
        return None if existing is None else run_pb2.Run.FromString(existing)

    async def record(
        self,
        events: Sequence[run_pb2.RunEvent],
        snapshots: Sequence[Snapshot],
        calls: Sequence[CallRecord] = (),
    ) -> None:
        rows = [(e.run_id, e.sequence, e.SerializeToString()) for e in events]
        snapshot_rows = [(s.data, s.state, s.run_id) for s in snapshots]
        call_rows = [(c.agent, c.ok, c.millis) for c in calls]

        def write(db: sqlite3.Connection) -> None:
            db.executemany("INSERT INTO events (run_id, sequence, event) VALUES (?, ?, ?)", rows)
            db.executemany("UPDATE runs SET snapshot = ?, state = ? WHERE run_id = ?", snapshot_rows)
            db.executemany("INSERT INTO calls (agent, ok, millis) VALUES (?, ?, ?)", call_rows)

        await self._write(self._transaction(write))

    async def get_run(self, run_id: str) -> run_pb2.Run | None:
        async with self.db.execute("SELECT snapshot FROM runs WHERE run_id = ?", (run_id,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else run_pb2.Run.FromString(row[0])

    async def list_runs(self, *, state: int, page_size: int, page_token: str) -> Page:
        clauses: list[str] = []
        params: list[object] = []
        if state:
            clauses.append("state = ?")
            params.append(state)
        if page_token:
            before_time, before_id = _decode_token(page_token)
            clauses.append("(create_time < ? OR (create_time = ? AND run_id < ?))")
            params += [before_time, before_time, before_id]
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        query = f"SELECT snapshot FROM runs {where} ORDER BY create_time DESC, run_id DESC LIMIT ?"  # noqa: S608
        async with self.db.execute(query, (*params, page_size + 1)) as cursor:
            rows = list(await cursor.fetchall())
        runs = [run_pb2.Run.FromString(row[0]) for row in rows[:page_size]]
        token = ""
        if len(rows) > page_size:
            last = runs[-1]
            token = _encode_token(last.create_time.ToNanoseconds(), last.run_id)
        return Page(runs, token)

    async def events_after(self, run_id: str, after_sequence: int, limit: int) -> list[run_pb2.RunEvent]:
        async with self.db.execute(
            "SELECT event FROM events WHERE run_id = ? AND sequence > ? ORDER BY sequence LIMIT ?",
            (run_id, after_sequence, limit),
        ) as cursor:
            rows = await cursor.fetchall()
        return [run_pb2.RunEvent.FromString(row[0]) for row in rows]

    async def run_counts(self) -> dict[int, int]:
        async with self.db.execute("SELECT state, COUNT(*) FROM runs GROUP BY state") as cursor:
            return {int(state): int(count) for state, count in await cursor.fetchall()}

    async def calls(self) -> list[CallRecord]:
        async with self.db.execute("SELECT agent, ok, millis FROM calls") as cursor:
            return [
                CallRecord(agent, bool(ok), float(millis)) for agent, ok, millis in await cursor.fetchall()
            ]

    async def chat_history(self, session_id: str) -> list[tuple[str, str]]:
        async with self.db.execute(
            "SELECT role, text FROM chat WHERE session_id = ? ORDER BY turn", (session_id,)
        ) as cursor:
            return [(str(role), str(text)) for role, text in await cursor.fetchall()]

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

        await self._write(self._transaction(append))

    async def unfinished_runs(self) -> list[str]:
        marks = ",".join("?" * len(_FINISHED))
        async with self.db.execute(
            f"SELECT run_id FROM runs WHERE state NOT IN ({marks}) ORDER BY create_time",  # noqa: S608
            _FINISHED,
        ) as cursor:
            rows = await cursor.fetchall()
        return [row[0] for row in rows]


def _encode_token(create_time: int, run_id: str) -> str:
    return base64.urlsafe_b64encode(f"{create_time}:{run_id}".encode()).decode()


def _decode_token(token: str) -> tuple[int, str]:
    try:
        created, run_id = base64.urlsafe_b64decode(token.encode()).decode().split(":", 1)
        return int(created), run_id
    except (ValueError, UnicodeDecodeError):
        raise ValueError(f"page_token {token!r} is not one this server issued") from None
