"""The SQLite store's tables, and what opening a store written by an older gateway adds to it."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from agentmesh_gateway.store.base import fold, workflow_names
from agentmesh_gateway.store.sqlite_registry import REGISTRY_SCHEMA

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    request_id  TEXT UNIQUE,             -- the idempotency key: owner, newline, request_id
    state       INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    snapshot    BLOB NOT NULL,
    owner       TEXT NOT NULL DEFAULT '',
    wake_at     INTEGER,                 -- a parked run's next timer, ns since the epoch
    workflow    TEXT,                    -- its workflow's name (NULL in a store from before it, until filled)
    workflow_key TEXT,                   -- the name folded (store.base.fold): what a query matches
    workflow_version TEXT                -- the version it pinned (runs of a registered workflow)
);
CREATE INDEX IF NOT EXISTS runs_by_wake ON runs (wake_at) WHERE wake_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (create_time DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS runs_by_state ON runs (state, create_time DESC, run_id DESC);
CREATE TABLE IF NOT EXISTS events (
    run_id   TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    event    BLOB NOT NULL,
    PRIMARY KEY (run_id, sequence)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS runs_by_owner ON runs (owner, create_time DESC, run_id DESC);
CREATE INDEX IF NOT EXISTS runs_by_workflow ON runs (workflow, create_time DESC, run_id DESC);
CREATE TABLE IF NOT EXISTS calls (
    agent  TEXT NOT NULL,
    ok     INTEGER NOT NULL,
    millis REAL NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS calls_by_latency ON calls (agent, millis, ok);
CREATE TABLE IF NOT EXISTS inputs (
    run_id    TEXT NOT NULL,
    step_id   TEXT NOT NULL,
    item      INTEGER NOT NULL,         -- -1 for a plain step
    turn      INTEGER NOT NULL,
    answer    BLOB NOT NULL,
    principal TEXT NOT NULL,
    added     INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_id, item, turn)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat (
    session_id TEXT NOT NULL,
    turn       INTEGER NOT NULL,
    role       TEXT NOT NULL,
    text       TEXT NOT NULL,
    PRIMARY KEY (session_id, turn)
) WITHOUT ROWID;
"""

#: Runs whose workflow name is filled in per transaction when a store from before it is opened.
_FILL_BATCH = 1000


def upgrade(connection: sqlite3.Connection) -> None:
    """Create what is missing: the tables, and the columns later gateways added (before the
    schema's indexes on them)."""
    columns = {row[1] for row in connection.execute("PRAGMA table_info(runs)")}
    if columns and "owner" not in columns:
        connection.execute("ALTER TABLE runs ADD COLUMN owner TEXT NOT NULL DEFAULT ''")
    if columns and "wake_at" not in columns:
        connection.execute("ALTER TABLE runs ADD COLUMN wake_at INTEGER")
    if columns and "workflow" not in columns:
        connection.execute("ALTER TABLE runs ADD COLUMN workflow TEXT")
        connection.execute("ALTER TABLE runs ADD COLUMN workflow_key TEXT")
    if columns and "workflow_version" not in columns:
        connection.execute("ALTER TABLE runs ADD COLUMN workflow_version TEXT")
    calls = {row[1] for row in connection.execute("PRAGMA table_info(calls)")}
    if calls and "tokens" not in calls:
        connection.execute("ALTER TABLE calls ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0")
    connection.executescript(_SCHEMA + REGISTRY_SCHEMA)
    _fill_workflow_names(connection)


def _fill_workflow_names(db: sqlite3.Connection) -> None:
    """Give the runs of a store from before ListRuns filtered by workflow their workflow's name,
    read from their snapshots (once: new runs are stored with it)."""
    while rows := db.execute(
        "SELECT run_id, snapshot FROM runs WHERE workflow IS NULL LIMIT ?", (_FILL_BATCH,)
    ).fetchall():
        names = [(name, fold(name), run_id) for run_id, name in workflow_names(rows)]
        db.execute("BEGIN IMMEDIATE")
        db.executemany("UPDATE runs SET workflow = ?, workflow_key = ? WHERE run_id = ?", names)
        db.execute("COMMIT")


def private(path: Path) -> None:
    """The store file readable by its owner only (runs hold inputs and outputs): created 0600,
    or narrowed to it. SQLite gives the -wal and -shm files the database file's mode."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if stat.S_IMODE(os.stat(path).st_mode) & 0o077:
            os.chmod(path, 0o600)
