"""The PostgreSQL store's registry: workflow versions and schedules (see `store.registry`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

from agentmesh_gateway.store.base import FINISHED_STATES, VersionTaken
from agentmesh_gateway.store.registry import ScheduleRecord, WorkflowRecord, next_version

_WORKFLOW_COLUMNS = "name, version, digest, definition, create_time, id"
_SCHEDULE_COLUMNS = "name, owner, spec, create_time, next_fire, last_fire, last_run_id"


class PostgresRegistry:
    if TYPE_CHECKING:

        @property
        def pool(self) -> asyncpg.Pool: ...

    async def put_workflow(self, record: WorkflowRecord, *, explicit: bool) -> tuple[WorkflowRecord, bool]:
        async with self.pool.acquire() as db, db.transaction():
            # Registrations of one workflow take turns: the next version number is read, then taken.
            await db.execute(
                "SELECT pg_advisory_xact_lock(hashtext('agentmesh.workflow:' || $1))", record.name
            )
            rows = await db.fetch(
                f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE name = $1 ORDER BY id DESC",  # noqa: S608
                record.name,
            )
            kept = [_workflow(row) for row in rows]
            if explicit:
                same = next((k for k in kept if k.version == record.version), None)
                if same is not None:
                    if same.digest != record.digest:
                        taken = f"version {record.version} of {record.name} has another definition"
                        raise VersionTaken(taken)
                    return same, False
                version = record.version
            else:
                if kept and kept[0].digest == record.digest:
                    return kept[0], False
                version = next_version([k.version for k in kept])
            new_id = await db.fetchval(
                "INSERT INTO workflows (name, version, digest, definition, create_time)"
                " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                record.name, version, record.digest, record.definition, record.create_time_ns,
            )  # fmt: skip
        stored = WorkflowRecord(
            record.name, version, record.digest, record.definition, record.create_time_ns, int(new_id)
        )
        return stored, True

    async def workflows_after(self, after_id: int, limit: int) -> list[WorkflowRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_WORKFLOW_COLUMNS} FROM workflows WHERE id > $1 ORDER BY id LIMIT $2",  # noqa: S608
            after_id, limit,
        )  # fmt: skip
        return [_workflow(row) for row in rows]

    async def version_counts(self, name: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        rows = await self.pool.fetch(
            "SELECT workflow, workflow_version, count(*) AS n,"
            " count(*) FILTER (WHERE NOT (state = ANY($1::integer[]))) AS u"
            " FROM runs WHERE workflow_version IS NOT NULL AND ($2::text IS NULL OR workflow = $2)"
            " GROUP BY workflow, workflow_version",
            list(FINISHED_STATES), name,
        )  # fmt: skip
        return {(str(r["workflow"]), str(r["workflow_version"])): (int(r["n"]), int(r["u"])) for r in rows}

    async def add_schedule(self, record: ScheduleRecord) -> bool:
        added = await self.pool.fetchval(
            f"INSERT INTO schedules ({_SCHEDULE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"  # noqa: S608
            " ON CONFLICT (name) DO NOTHING RETURNING name",
            *_schedule_row(record),
        )
        return added is not None

    async def get_schedule(self, name: str) -> ScheduleRecord | None:
        row = await self.pool.fetchrow(f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE name = $1", name)  # noqa: S608
        return None if row is None else _schedule(row)

    async def list_schedules(self, after: str, limit: int, owner: str | None = None) -> list[ScheduleRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE name > $1"  # noqa: S608
            " AND ($2::text IS NULL OR owner = $2) ORDER BY name LIMIT $3",
            after, owner, limit,
        )  # fmt: skip
        return [_schedule(row) for row in rows]

    async def update_schedule(
        self, record: ScheduleRecord, *, expected_next_fire_ns: int | bool | None = False
    ) -> bool:
        sql = (
            "UPDATE schedules SET owner = $2, spec = $3, next_fire = $4, last_fire = $5, last_run_id = $6"
            " WHERE name = $1"
        )
        params: list[Any] = [
            record.name, record.owner, record.spec, record.next_fire_ns, record.last_fire_ns,
            record.last_run_id,
        ]  # fmt: skip
        if expected_next_fire_ns is not False:
            sql += " AND next_fire IS NOT DISTINCT FROM $7"
            params.append(expected_next_fire_ns)
        updated = await self.pool.fetchval(sql + " RETURNING name", *params)
        return updated is not None

    async def delete_schedule(self, name: str) -> bool:
        deleted = await self.pool.fetchval("DELETE FROM schedules WHERE name = $1 RETURNING name", name)
        return deleted is not None

    async def due_schedules(self, now_ns: int, limit: int) -> list[ScheduleRecord]:
        rows = await self.pool.fetch(
            f"SELECT {_SCHEDULE_COLUMNS} FROM schedules WHERE next_fire <= $1 ORDER BY next_fire LIMIT $2",  # noqa: S608
            now_ns, limit,
        )  # fmt: skip
        return [_schedule(row) for row in rows]


def _workflow(row: asyncpg.Record) -> WorkflowRecord:
    return WorkflowRecord(
        str(row["name"]), str(row["version"]), str(row["digest"]), bytes(row["definition"]),
        int(row["create_time"]), int(row["id"]),
    )  # fmt: skip


def _schedule(row: asyncpg.Record) -> ScheduleRecord:
    next_fire, last_fire = row["next_fire"], row["last_fire"]
    return ScheduleRecord(
        str(row["name"]), str(row["owner"]), bytes(row["spec"]), int(row["create_time"]),
        None if next_fire is None else int(next_fire),
        None if last_fire is None else int(last_fire),
        str(row["last_run_id"]),
    )  # fmt: skip


def _schedule_row(record: ScheduleRecord) -> tuple[Any, ...]:
    return (
        record.name, record.owner, record.spec, record.create_time_ns,
        record.next_fire_ns, record.last_fire_ns, record.last_run_id,
    )  # fmt: skip
