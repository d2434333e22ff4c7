"""The SQLite store's registry: workflow versions and schedules (see `store.registry`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from agentmesh_gateway.store.base import FINISHED_STATES, VersionTaken
from agentmesh_gateway.store.registry import ScheduleRecord, WorkflowRecord, next_version

T = TypeVar("T")

REGISTRY_SCHEMA = """
CREATE TABLE IF NOT EXISTS workflows (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    digest      TEXT NOT NULL,
    definition  BLOB NOT NULL,
    create_time INTEGER NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE IF NOT EXISTS schedules (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    spec        BLOB NOT NULL,
    create_time INTEGER NOT NULL,
    next_fire   INTEGER,                 -- ns since the epoch; NULL while paused
    last_fire   INTEGER,
    last_run_id TEXT NOT NULL DEFAULT ''
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS schedules_due ON schedules (next_fire) WHERE next_fire IS NOT NULL;
"""

_WORKFLOW_COLUMNS = "name, version, digest, definition, create_time, id"
_SCHEDULE_COLUMNS = "name, owner, spec, create_time, next_fire, last_fire, last_run_id"


class SqliteRegistry:
    if TYPE_CHECKING:

        async def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T: ...

        async def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...

    async def put_workflow(self, record: WorkflowRecord, *, explicit: bool) -> tuple[WorkflowRecord, bool]:
        def put(db: sqlite3.Connection) -> tuple[WorkflowRecord, bool]:
            rows = db.execute(
                f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE name = ? ORDER BY id DESC",  # noqa: S608
                (record.name,),
            ).fetchall()
            kept = [_workflow(row) for row in rows]
            if explicit:
                same = next((k for k in kept if k.version == record.version), None)
                if same is not None:
                    if same.digest != record.digest:
                        raise VersionTaken(
                            f"version {record.version} of {record.name} has another definition"
                        )
                    return same, False
                version = record.version
            else:
                if kept and kept[0].digest == record.digest:
                    return kept[0], False
                version = next_version([k.version for k in kept])
            cursor = db.execute(
                "INSERT INTO workflows (name, version, digest, definition, create_time)"
                " VALUES (?, ?, ?, ?, ?)",
                (record.name, version, record.digest, record.definition, record.create_time_ns),
            )
            return WorkflowRecord(
                record.name,
                version,
                record.digest,
                record.definition,
                record.create_time_ns,
                int(cursor.lastrowid or 0),
            ), True

        return await self._transaction(put)

    async def workflows_after(self, after_id: int, limit: int) -> list[WorkflowRecord]:
        rows = await self._query(
            f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE id > ? ORDER BY id LIMIT ?",  # noqa: S608
            (after_id, limit),
        )
        return [_workflow(row) for row in rows]

    async def version_counts(self, name: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        marks = ",".join("?" * len(FINISHED_STATES))
        where = "WHERE workflow = ?" if name is not None else "WHERE workflow IS NOT NULL"
        rows = await self._query(
            f"SELECT workflow, workflow_version, COUNT(*), SUM(state NOT IN ({marks})) FROM runs {where}"  # noqa: S608
            " AND workflow_version IS NOT NULL GROUP BY workflow, workflow_version",
            (*FINISHED_STATES, *([name] if name is not None else [])),
        )
        return {(str(w), str(v)): (int(n), int(u or 0)) for w, v, n, u in rows}

    async def add_schedule(self, record: ScheduleRecord) -> bool:
        def add(db: sqlite3.Connection) -> bool:
            return bool(
                db.execute(
                    f"INSERT INTO schedules ({_SCHEDULE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
                    " ON CONFLICT (name) DO NOTHING",
                    _schedule_row(record),
                ).rowcount
            )

        return await self._transaction(add)

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        rows = await self._query(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE name = ?", (name,))  # noqa: S608
        return _schedule(rows[0]) if rows else None

    async def list_schedules(self, after: str, limit: int, owner: str | None = None) -> list[ScheduleRecord]:
        clause, params = ("AND owner = ?", [owner]) if owner is not None else ("", [])
        rows = await self._query(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE name > ? {clause} ORDER BY name LIMIT ?",  # noqa: S608
            (after, *params, limit),
        )
        return [_schedule(row) for row in rows]

    async def update_schedule(
        self, record: ScheduleRecord, *, expected_next_fire_ns: int | bool | None = False
    ) -> bool:
        def update(db: sqlite3.Connection) -> bool:
            sql = (
                "UPDATE schedules SET owner = ?, spec = ?, next_fire = ?, last_fire = ?, last_run_id = ?"
                " WHERE name = ?"
            )
            params: list[Any] = [
                record.owner, record.spec, record.next_fire_ns, record.last_fire_ns, record.last_run_id,
                record.name,
            ]  # fmt: skip
            if expected_next_fire_ns is not False:
                sql += " AND next_fire IS ?"
                params.append(expected_next_fire_ns)
            return bool(db.execute(sql, params).rowcount)

        return await self._transaction(update)

    async def delete_schedule(self, name: str) -> bool:
        return await self._transaction(
            lambda db: bool(db.execute("DELETE FROM schedules WHERE name = ?", (name,)).rowcount)
        )

    async def due_schedules(self, now_ns: int, limit: int) -> list[ScheduleRecord]:
        rows = await self._query(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE next_fire <= ? ORDER BY next_fire LIMIT ?",  # noqa: S608
            (now_ns, limit),
        )
        return [_schedule(row) for row in rows]


def _workflow(row: Sequence[Any]) -> WorkflowRecord:
    name, version, digest, definition, created, id_ = row
    return WorkflowRecord(str(name), str(version), str(digest), bytes(definition), int(created), int(id_))


def _schedule(row: Sequence[Any]) -> ScheduleRecord:
    name, owner, spec, created, next_fire, last_fire, last_run_id = row
    return ScheduleRecord(
        str(name), str(owner), bytes(spec), int(created),
        None if next_fire is None else int(next_fire),
        None if last_fire is None else int(last_fire),
        str(last_run_id),
    )  # fmt: skip


def _schedule_row(record: ScheduleRecord) -> tuple[Any, ...]:
    return (
        record.name, record.owner, record.spec, record.create_time_ns,
        record.next_fire_ns, record.last_fire_ns, record.last_run_id,
    )  # fmt: skip
