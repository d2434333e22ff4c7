"""The PostgreSQL store's leases: which replica executes which run, cancellations asked for on
another replica, the notifications that tell replicas about each other's commits, and the
replicas alive (each heartbeats; agents' limits are shared among them). See `postgres`."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import asyncpg

from agentmesh.v1 import run_pb2
from agentmesh_gateway.store.base import FINISHED_STATES

EVENTS_CHANNEL = "agentmesh_events"
CANCEL_CHANNEL = "agentmesh_cancel"
INPUT_CHANNEL = "agentmesh_input"
#: A replica not heard from for this many leases is forgotten.
FORGET_AFTER_LEASES = 100


class PostgresLeases:
    replica: str
    lease_seconds: float
    _url: str
    _listener: asyncpg.Connection | None
    _lock_key: int | None

    if TYPE_CHECKING:

        @property
        def pool(self) -> asyncpg.Pool: ...

    async def claim(self, limit: int) -> dict[str, int]:
        rows = await self.pool.fetch(
            "UPDATE runs SET lease_owner = $1, lease_until = now() + make_interval(secs => $2),"
            " fence = fence + 1, lease_key = $7"
            " WHERE run_id IN (SELECT run_id FROM runs WHERE NOT (state = ANY($3::integer[]))"
            "   AND state != $6 AND (state != $5 OR run_id IN (SELECT run_id FROM inputs))"
            "   AND (lease_until IS NULL OR lease_until < now())"
            "   ORDER BY create_time LIMIT $4 FOR UPDATE SKIP LOCKED)"
            " RETURNING run_id, fence",
            self.replica, self.lease_seconds, list(FINISHED_STATES), limit,
            run_pb2.RUN_STATE_WAITING_FOR_INPUT, run_pb2.RUN_STATE_SLEEPING, self._lock_key,
        )  # fmt: skip
        return {str(r["run_id"]): int(r["fence"]) for r in rows}

    async def renew(self, fences: Mapping[str, int]) -> set[str]:
        if not fences:
            return set()
        rows = await self.pool.fetch(
            "UPDATE runs SET lease_until = now() + make_interval(secs => $2)"
            " WHERE run_id = ANY($3::text[]) AND lease_owner = $1 RETURNING run_id, fence",
            self.replica, self.lease_seconds, sorted(fences),
        )  # fmt: skip
        held = {str(r["run_id"]) for r in rows if fences.get(str(r["run_id"])) == int(r["fence"])}
        return set(fences) - held

    async def release(self, run_ids: Sequence[str]) -> None:
        if run_ids:
            await self.pool.execute(
                "UPDATE runs SET lease_until = NULL, lease_owner = '', lease_key = NULL"
                " WHERE run_id = ANY($1::text[]) AND lease_owner = $2",
                sorted(run_ids), self.replica,
            )  # fmt: skip

    async def request_cancel(self, run_id: str, reason: str) -> None:
        async with self.pool.acquire() as db, db.transaction():
            await db.execute(
                "INSERT INTO cancels (run_id, reason) VALUES ($1, $2) ON CONFLICT (run_id) DO NOTHING",
                run_id, reason,
            )  # fmt: skip
            await db.execute("SELECT pg_notify($1, $2)", CANCEL_CHANNEL, run_id)

    async def take_cancels(self, run_ids: Sequence[str]) -> dict[str, str]:
        if not run_ids:
            return {}
        rows = await self.pool.fetch(
            "DELETE FROM cancels WHERE run_id = ANY($1::text[]) RETURNING run_id, reason", sorted(run_ids)
        )
        return {str(r["run_id"]): str(r["reason"]) for r in rows}

    async def follow(
        self,
        on_events: Callable[[str], None],
        on_cancel: Callable[[str], None],
        on_input: Callable[[str], None],
    ) -> None:
        listener = await asyncpg.connect(self._url)

        def events(_: object, __: int, ___: str, payload: object) -> None:
            replica, *run_ids = str(payload).split()
            if replica != self.replica:
                for run_id in run_ids:
                    on_events(run_id)

        def cancels(_: object, __: int, ___: str, payload: object) -> None:
            on_cancel(str(payload))

        def inputs(_: object, __: int, ___: str, payload: object) -> None:
            on_input(str(payload))

        await listener.add_listener(EVENTS_CHANNEL, events)
        await listener.add_listener(CANCEL_CHANNEL, cancels)
        await listener.add_listener(INPUT_CHANNEL, inputs)
        self._listener = listener

    async def heartbeat(self) -> int:
        """Say this replica is alive; how many replicas are (heard from within a lease)."""
        async with self.pool.acquire() as db, db.transaction():
            await db.execute(
                "INSERT INTO replicas (replica, seen) VALUES ($1, now())"
                " ON CONFLICT (replica) DO UPDATE SET seen = now()",
                self.replica,
            )
            await db.execute(
                "DELETE FROM replicas WHERE seen < now() - make_interval(secs => $1)",
                self.lease_seconds * FORGET_AFTER_LEASES,
            )
            # Locks taken on a server instance before this one (a restart, a failover) tell nothing
            # now: their replicas register again when they lock again (postgres_liveness).
            await db.execute("DELETE FROM replica_locks WHERE server_started <> pg_postmaster_start_time()")
            alive = await db.fetchval(
                "SELECT count(*) FROM replicas WHERE seen > now() - make_interval(secs => $1)",
                self.lease_seconds,
            )
        return max(1, int(alive))

    async def leave(self) -> None:
        """This replica stops: it no longer counts among those alive."""
        async with self.pool.acquire() as db, db.transaction():
            await db.execute("DELETE FROM replicas WHERE replica = $1", self.replica)
            await db.execute("DELETE FROM replica_locks WHERE lock_key = $1", self._lock_key)
