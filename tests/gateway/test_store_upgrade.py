"""A store written before runs had owners opens as it is: its runs are nobody's (owner '')."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

from agentmesh.v1 import run_pb2
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
