"""The crash property again, on PostgreSQL with two replicas: generated workflows and failure
timings; replica A stops being able to write at any commit and either hands its runs over or dies
(nothing more of it reaches the database, its sessions end, its leases would last an hour), and
replica B claims the run and finishes it. No attempt with a recorded outcome runs again, the
history B writes continues A's without a gap, and the run ends as the oracle says."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest
from hypothesis import strategies as st

from agentmesh.v1 import run_pb2
from agentmesh_gateway.store.base import Batch, WriteResult
from agentmesh_gateway.store.postgres import PostgresRunStore
from tests.gateway.test_engine_properties import (
    check_data,
    check_dependency_order,
    check_log,
    check_outcome,
    event_key,
    key_of,
    settled,
)
from tests.support.dags import Case, cases, expect
from tests.support.engine import StoreCrashed, finish, new_case, running_engine, start
from tests.support.properties import for_each_example

pytestmark = pytest.mark.slow


class CrashingReplica(PostgresRunStore):
    """A replica whose writes stop reaching the database after `durable_writes` commits; one that
    `dies` hands nothing over either, and its sessions end when its engine stops."""

    def __init__(self, url: str, durable_writes: int, dies: bool) -> None:
        # A short lease, unless it dies: the run its engine halted is not its to hand over; B
        # claims it when the lease runs out. A lease of an hour when it dies: B claims its runs
        # because its liveness lock is free, or not within the test.
        super().__init__(url, replica="a", lease_seconds=3600 if dies else 0.6)
        self._left = durable_writes
        self._dies = dies
        self.crashed = asyncio.Event()

    async def write(self, batch: Batch) -> WriteResult:
        if self._left <= 0:
            self.crashed.set()
            raise StoreCrashed
        self._left -= 1
        return await super().write(batch)

    async def release(self, run_ids: Sequence[str]) -> None:
        if self._dies and self.crashed.is_set():
            raise StoreCrashed
        await super().release(run_ids)

    async def leave(self) -> None:
        if self._dies and self.crashed.is_set():
            raise StoreCrashed
        await super().leave()


async def stored_history(url: str, run_id: str) -> list[run_pb2.RunEvent]:
    db = await asyncpg.connect(url)
    try:
        rows = await db.fetch("SELECT event FROM events WHERE run_id = $1 ORDER BY sequence", run_id)
    finally:
        await db.close()
    return [run_pb2.RunEvent.FromString(bytes(r["event"])) for r in rows]


async def test_a_replica_failing_at_any_commit_is_taken_over_and_the_run_ends_as_without_it(
    agent_address: str, postgres_database: str
) -> None:
    async def check(case: Case, durable_writes: int, dies: bool) -> None:
        case_id, script = new_case(case.outcomes())
        failing = CrashingReplica(postgres_database, durable_writes, dies)
        async with running_engine(failing, agent_address) as doomed:
            run_id = await start(doomed, case.workflow(), case.inputs(case_id))
            ended = asyncio.create_task(finish(doomed, run_id))
            crashed = asyncio.create_task(failing.crashed.wait())
            await asyncio.wait([ended, crashed], return_when=asyncio.FIRST_COMPLETED)
            for task in (ended, crashed):
                task.cancel()
        # A is gone (its lease released if its run still executed, else expiring), whatever it wrote.
        before = len(script.calls)
        await settled(script.calls)
        # What A left, read before B starts: B may take the run over while it starts (A's lease
        # released, or its lock found free), and what B records is not A's.
        durable = await stored_history(postgres_database, run_id)
        taker = PostgresRunStore(postgres_database, replica="b", lease_seconds=1)
        async with running_engine(taker, agent_address) as b:
            events = await finish(b, run_id)
            snapshot = await b.get_run(run_id)
            await settled(script.calls)
        decided = {
            event_key(e)
            for e in durable
            if e.WhichOneof("event") in ("step_completed", "step_retrying", "step_failed")
        }
        after = script.calls[before:]
        assert [key_of(c) for c in after if key_of(c) in decided] == [], (
            "an attempt with a recorded outcome ran again"
        )
        assert events[: len(durable)] == durable
        check_log(events, snapshot)
        check_dependency_order(case, events)
        check_data(script.calls, snapshot)
        check_outcome(case, expect(case), snapshot, script.calls, once=False)

    await for_each_example(check, cases(max_layers=3), st.integers(1, 15), st.booleans())
