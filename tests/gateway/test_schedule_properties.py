"""Property test of schedules, on SQLite and on PostgreSQL: whatever the cron expression, however
time moves (across a DST change in the schedule's zone) and whenever the gateway dies (at any
commit: a run's creation, the schedule moving to its next tick), every tick starts exactly one
run: none fired twice, none lost.

Generated: a cron expression, and a timeline of gateways, each started after the clock moved on
by a generated while, firing what is due, and dying at a generated commit (or not). The schedule
allows overlaps and catches up every missed tick, so that every tick is owed a run; a last
gateway that does not die fires what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf import duration_pb2
from hypothesis import strategies as st

from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import workflow_pb2
from agentmesh_gateway import cron
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.store import RunStore
from agentmesh_gateway.store.postgres import PostgresRunStore
from agentmesh_gateway.store.sqlite import SqliteRunStore
from tests.gateway.test_schedules import Clock
from tests.support.engine import CrashingPostgresStore, CrashingStore, StoreCrashed, running_engine
from tests.support.mesh import workflow
from tests.support.postgres import create_database
from tests.support.properties import for_each_example

pytestmark = pytest.mark.slow

_files = itertools.count()
TICK = workflow({"name": "tick", "steps": [{"id": "noop", "sleep": "0s"}]})
WORKFLOWS: dict[str, workflow_pb2.Workflow] = {"tick": TICK}
#: Half an hour before Berlin's clocks go from 02:00 to 03:00 (2026-03-29, 01:00 UTC).
START = datetime(2026, 3, 29, 0, 30, 10, tzinfo=UTC)
ZONE = "Europe/Berlin"
CRONS = ("* * * * *", "*/7 * * * *", "0,30 * * * *", "59 1,2,3 * * *", "*/5 2 * * *")

#: Each gateway of the timeline: seconds the clock moves before it starts, and the commit it
#: dies at (None: it does not die).
Life = tuple[int, int | None]


def lives() -> st.SearchStrategy[list[Life]]:
    return st.lists(
        st.tuples(st.integers(0, 900), st.one_of(st.none(), st.integers(0, 12))), min_size=1, max_size=5
    )


async def runs_by_tick(engine: Engine) -> list[str]:
    """The schedule's runs' request ids (one per run), in no particular order."""
    found, token = [], ""
    while True:
        page = await engine.list_runs(0, 500, token)
        found += [run.request_id for run in page.runs if run.schedule == "every"]
        token = page.next_page_token
        if not token:
            return found


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_every_tick_starts_exactly_one_run_whenever_the_gateway_dies(
    kind: str, agent_address: str, store_dir: Path, request: pytest.FixtureRequest
) -> None:
    server = request.getfixturevalue("postgres_url") if kind == "postgresql" else ""
    replicas = itertools.count()
    # Each example on a store of its own (a tick's request id is the same in every example).
    where = ""

    def store(crash: int | None = None) -> RunStore:
        if kind == "sqlite":
            return CrashingStore(Path(where), None) if crash is not None else SqliteRunStore(where)
        name = f"r{next(replicas)}"
        if crash is not None:
            return CrashingPostgresStore(where, None, replica=name, lease_seconds=0.5)
        return PostgresRunStore(where, replica=name, lease_seconds=0.5)

    async def check(expression: str, timeline: list[Life]) -> None:
        nonlocal where
        number = next(_files)
        if kind == "sqlite":
            where = str(store_dir / f"schedules-{number}.db")
        else:
            where = await asyncio.to_thread(create_database, server, f"schedules_{number}")
        name = "every"
        clock = Clock(START)
        spec = pb.Schedule(
            name=name,
            workflow_name="tick",
            cron=expression,
            time_zone=ZONE,
            overlap=pb.OVERLAP_POLICY_ALLOW,
            catch_up=pb.CATCH_UP_POLICY_ALL,
            catch_up_window=duration_pb2.Duration(seconds=86_400),
        )
        async with running_engine(store(), agent_address, WORKFLOWS, clock=clock) as engine:
            await engine.schedules.create(spec, "")
        for seconds, crash in timeline:
            clock.now += timedelta(seconds=seconds)
            doomed = store(crash)
            with contextlib.suppress(StoreCrashed):
                async with running_engine(doomed, agent_address, WORKFLOWS, clock=clock) as engine:
                    if isinstance(doomed, CrashingStore | CrashingPostgresStore):
                        doomed.crash_after(crash)  # from now on: its start commits what it must
                    with contextlib.suppress(StoreCrashed):
                        await engine.schedules.fire_due()
        async with running_engine(store(), agent_address, WORKFLOWS, clock=clock) as engine:
            await engine.schedules.fire_due()
            fired = await runs_by_tick(engine)
        owed = [
            f"schedule:{name}:{tick.isoformat()}"
            for tick in itertools.takewhile(
                lambda tick: tick <= clock.now, cron.ticks_after(expression, ZONE, START)
            )
        ]
        assert len(fired) == len(set(fired)), "a tick started two runs"
        assert sorted(fired) == sorted(owed), (
            f"lost: {set(owed) - set(fired)}; extra: {set(fired) - set(owed)}"
        )

    await for_each_example(
        check, st.sampled_from(CRONS), lives(), max_examples=25 if kind == "sqlite" else 10
    )
