"""Stores written by older gateways open as they are: runs from before owners are nobody's (owner
''), runs from before ListRuns filtered by workflow get their workflow's name from their snapshots,
and calls from before tokens were counted count none."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import asyncpg

from agentmesh.v1 import run_pb2
from agentmesh_gateway.store import RunFilters, RunStore
from agentmesh_gateway.store.postgres import PostgresRunStore
from agentmesh_gateway.store.postgres_schema import MIGRATIONS, WORKFLOWS_AND_TOKENS
from agentmesh_gateway.store.sqlite import SqliteRunStore

OLD_SCHEMA = """
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    request_id  TEXT UNIQUE,
    state       INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    snapshot    BLOB NOT NULL
);
"""


async def test_a_store_from_before_owners_keeps_its_runs_and_gets_private(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    run = run_pb2.Run(run_id="r1", state=run_pb2.RUN_STATE_SUCCEEDED, request_id="req")
    with sqlite3.connect(path) as db:
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO runs VALUES (?, ?, ?, ?, ?)", ("r1", "req", run.state, 1, run.SerializeToString())
        )
    path.chmod(0o644)
    store = SqliteRunStore(path)
    await store.open()
    try:
        everyone = await store.list_runs(state=0, page_size=10, page_token="", max_bytes=1 << 20)
        nobodys = await store.list_runs(state=0, page_size=10, page_token="", max_bytes=1 << 20, owner="")
        alices = await store.list_runs(state=0, page_size=10, page_token="", max_bytes=1 << 20, owner="alice")
    finally:
        await store.close()
    assert [r.run_id for r in everyone.runs] == ["r1"]
    assert [r.run_id for r in nobodys.runs] == ["r1"]
    assert alices.runs == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


BEFORE_WORKFLOW_NAMES = """
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    request_id  TEXT UNIQUE,
    state       INTEGER NOT NULL,
    create_time INTEGER NOT NULL,
    snapshot    BLOB NOT NULL,
    owner       TEXT NOT NULL DEFAULT ''
);
CREATE TABLE calls (agent TEXT NOT NULL, ok INTEGER NOT NULL, millis REAL NOT NULL);
"""


def old_run(run_id: str, workflow: str) -> run_pb2.Run:
    run = run_pb2.Run(run_id=run_id, state=run_pb2.RUN_STATE_SUCCEEDED)
    run.workflow.name = workflow
    return run


async def filtered(store: RunStore, filters: RunFilters) -> list[str]:
    page = await store.list_runs(state=0, page_size=10, page_token="", max_bytes=1 << 20, filters=filters)
    return [r.run_id for r in page.runs]


async def test_a_sqlite_store_from_before_workflow_filters_and_tokens_fills_them_in(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.executescript(BEFORE_WORKFLOW_NAMES)
        for number, name in enumerate(["Legacy Flow", "other", "legacy flow"]):
            run = old_run(f"r{number}", name)
            db.execute(
                "INSERT INTO runs VALUES (?, NULL, ?, ?, ?, '')",
                (run.run_id, run.state, number, run.SerializeToString()),
            )
        db.execute("INSERT INTO calls VALUES ('a', 1, 2.0)")
    store = SqliteRunStore(path)
    await store.open()
    try:
        assert await filtered(store, RunFilters(workflow="Legacy Flow")) == ["r0"]
        assert await filtered(store, RunFilters(query="LEGACY")) == ["r2", "r0"]
        assert [(s.agent, s.executions, s.tokens) for s in await store.call_stats()] == [("a", 1, 0)]
    finally:
        await store.close()


async def test_a_postgresql_store_from_before_workflow_filters_and_tokens_fills_them_in(
    postgres_database: str,
) -> None:
    before = MIGRATIONS[: MIGRATIONS.index(WORKFLOWS_AND_TOKENS)]
    db = await asyncpg.connect(postgres_database)
    try:
        await db.execute("CREATE TABLE agentmesh_schema (version integer NOT NULL)")
        for version, migration in enumerate(before, start=1):
            await db.execute(migration)
            await db.execute("INSERT INTO agentmesh_schema (version) VALUES ($1)", version)
        for number, name in enumerate(["Legacy Flow", "other"]):
            run = old_run(f"r{number}", name)
            await db.execute(
                "INSERT INTO runs (run_id, state, create_time, snapshot) VALUES ($1, $2, $3, $4)",
                run.run_id, run.state, number, run.SerializeToString(),
            )  # fmt: skip
        await db.execute("INSERT INTO calls (agent, ok, millis) VALUES ('a', true, 2.0)")
    finally:
        await db.close()
    store = PostgresRunStore(postgres_database)
    await store.open()
    try:
        assert await filtered(store, RunFilters(workflow="Legacy Flow")) == ["r0"]
        assert await filtered(store, RunFilters(query="flow")) == ["r0"]
        assert [(s.agent, s.executions, s.tokens) for s in await store.call_stats()] == [("a", 1, 0)]
    finally:
        await store.close()
