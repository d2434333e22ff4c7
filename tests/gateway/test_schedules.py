"""Schedules, on SQLite and PostgreSQL: each tick starts one run (whichever replicas fire it), the
overlap and catch-up policies, pause, resume, trigger, time zones across DST changes, and bad
schedules refused with nothing stored.

The engine in this test's loop against the scripted agent over real gRPC, on a clock the test
moves (a schedule fires by it; everything else keeps real time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import duration_pb2

from agentmesh.errors import AlreadyExists, FailedPrecondition, InvalidInput, NotFound
from agentmesh.messages import dict_to_struct
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.store import RunStore, open_store
from agentmesh_gateway.store.postgres import PostgresRunStore
from tests.support.engine import AGENT, Outcome, new_case, running_engine
from tests.support.mesh import workflow

JOB = workflow(
    {
        "name": "job",
        "inputs": [{"name": "case", "required": True}],
        "steps": [{"id": "work", "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}}],
    }
)
WORKFLOWS: Mapping[str, workflow_pb2.Workflow] = {"job": JOB}


class Clock:
    """The time schedules fire by; the test moves it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now.timestamp()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


def store_at(location: str) -> RunStore:
    return open_store(location, lease_seconds=1.5)


def schedule(name: str, case: str, cron: str = "*/5 * * * *", **fields: Any) -> pb.Schedule:
    return pb.Schedule(
        name=name, workflow_name="job", cron=cron, inputs=dict_to_struct({"case": case}), **fields
    )


async def scheduled_runs(engine: Engine, name: str) -> list[run_pb2.Run]:
    """The schedule's runs, oldest first."""
    runs, token = [], ""
    while True:
        page = await engine.list_runs(0, 100, token)
        runs += [run for run in page.runs if run.schedule == name]
        token = page.next_page_token
        if not token:
            return sorted(runs, key=lambda run: run.create_time.ToNanoseconds())


async def until_fired(engine: Engine, name: str, tick: datetime) -> pb.Schedule:
    """Wait until the schedule has moved past `tick` (fired it, or skipped it)."""
    async with asyncio.timeout(20):
        while True:
            current = await engine.schedules.get(name)
            if current.HasField("last_fire_time") and current.last_fire_time.ToDatetime(UTC) >= tick:
                return current
            await asyncio.sleep(0.05)


async def ticks_started(engine: Engine, name: str) -> list[str]:
    return [run.request_id.removeprefix(f"schedule:{name}:") for run in await scheduled_runs(engine, name)]


async def test_each_tick_starts_one_run_as_the_schedules_owner(location: str, agent_address: str) -> None:
    clock = Clock(at("2026-01-01T00:00:30+00:00"))
    case, _ = new_case({})
    async with running_engine(store_at(location), agent_address, WORKFLOWS, clock=clock) as engine:
        created = await engine.schedules.create(schedule("every-five", case), "alice")
        assert [t.ToDatetime(UTC) for t in created.next_fire_times] == [
            at(f"2026-01-01T00:{m:02}:00+00:00") for m in (5, 10, 15, 20, 25)
        ]
        assert (created.principal, created.paused) == ("alice", False)
        with pytest.raises(AlreadyExists):
            await engine.schedules.create(schedule("every-five", case), "alice")
        for minute in (5, 10):
            clock.now = at(f"2026-01-01T00:{minute:02}:01+00:00")
            fired = await until_fired(engine, "every-five", clock.now - timedelta(seconds=1))
        assert await ticks_started(engine, "every-five") == [
            "2026-01-01T00:05:00+00:00",
            "2026-01-01T00:10:00+00:00",
        ]
        runs = await scheduled_runs(engine, "every-five")
        assert {run.principal for run in runs} == {"alice"}
        assert fired.last_run_id == runs[-1].run_id
        assert fired.next_fire_times[0].ToDatetime(UTC) == at("2026-01-01T00:15:00+00:00")
        # Firing the same ticks again (another replica's round) starts nothing more.
        assert await engine.schedules.fire_due() == 0
        assert len(await scheduled_runs(engine, "every-five")) == 2


@pytest.mark.parametrize(
    ("overlap", "expected_runs", "first_state"),
    [
        (pb.OVERLAP_POLICY_SKIP, 1, run_pb2.RUN_STATE_RUNNING),
        (pb.OVERLAP_POLICY_ALLOW, 2, run_pb2.RUN_STATE_RUNNING),
        (pb.OVERLAP_POLICY_CANCEL_PREVIOUS, 2, run_pb2.RUN_STATE_CANCELLED),
    ],
)
async def test_a_tick_while_the_previous_run_is_unfinished_follows_the_overlap_policy(
    tmp_path: Path, agent_address: str, overlap: int, expected_runs: int, first_state: int
) -> None:
    clock = Clock(at("2026-01-01T00:00:30+00:00"))
    case, _ = new_case({("work", None, 1): Outcome(delay=60)})
    async with running_engine(
        store_at(str(tmp_path / "runs.db")), agent_address, WORKFLOWS, clock=clock
    ) as e:
        await e.schedules.create(schedule("slow", case, overlap=overlap), "")
        for minute in (5, 10):
            clock.now = at(f"2026-01-01T00:{minute:02}:01+00:00")
            await until_fired(e, "slow", clock.now - timedelta(seconds=1))
        runs = await scheduled_runs(e, "slow")
        assert len(runs) == expected_runs
        assert runs[0].state == first_state
        for run in runs:
            await e.cancel_run(run.run_id, "test over")


@pytest.mark.parametrize(
    ("policy", "window_minutes", "expected"),
    [
        (pb.CATCH_UP_POLICY_NONE, 0, []),
        (pb.CATCH_UP_POLICY_ONE, 0, ["00:30"]),
        (pb.CATCH_UP_POLICY_UNSPECIFIED, 0, ["00:30"]),
        (pb.CATCH_UP_POLICY_ALL, 12, ["00:20", "00:25", "00:30"]),
    ],
)
async def test_ticks_missed_while_no_gateway_ran_follow_the_catch_up_policy(
    location: str, agent_address: str, policy: int, window_minutes: int, expected: list[str]
) -> None:
    clock = Clock(at("2026-01-01T00:00:30+00:00"))
    case, _ = new_case({})
    # Overlaps allowed: catching up starts runs back to back (skipping would start only the first).
    spec = schedule("nightly", case, catch_up=policy, overlap=pb.OVERLAP_POLICY_ALLOW)
    if window_minutes:
        spec.catch_up_window.CopyFrom(duration_pb2.Duration(seconds=window_minutes * 60))
    async with running_engine(store_at(location), agent_address, WORKFLOWS, clock=clock) as engine:
        await engine.schedules.create(spec, "")
    # Down from 00:00:30 to 00:32: the ticks of 00:05 to 00:30 were missed, none is on time.
    clock.now = at("2026-01-01T00:32:00+00:00")
    async with running_engine(store_at(location), agent_address, WORKFLOWS, clock=clock) as engine:
        after = await until_next_fire(engine, "nightly", at("2026-01-01T00:35:00+00:00"))
        assert await ticks_started(engine, "nightly") == [f"2026-01-01T{t}:00+00:00" for t in expected]
        # A missed tick that starts nothing is not the last fired.
        assert after.HasField("last_fire_time") == bool(expected)


async def until_next_fire(engine: Engine, name: str, expected: datetime) -> pb.Schedule:
    async with asyncio.timeout(20):
        while True:
            current = await engine.schedules.get(name)
            if current.next_fire_times and current.next_fire_times[0].ToDatetime(UTC) == expected:
                return current
            await asyncio.sleep(0.05)


async def test_a_paused_schedule_fires_nothing_and_resumes_from_now(
    location: str, agent_address: str
) -> None:
    clock = Clock(at("2026-01-01T00:00:30+00:00"))
    case, _ = new_case({})
    async with running_engine(store_at(location), agent_address, WORKFLOWS, clock=clock) as engine:
        await engine.schedules.create(schedule("pausable", case, catch_up=pb.CATCH_UP_POLICY_ALL), "")
        paused = await engine.schedules.pause("pausable", "maintenance")
        assert (paused.paused, paused.pause_reason, list(paused.next_fire_times)) == (True, "maintenance", [])
        clock.now = at("2026-01-01T00:21:00+00:00")
        assert await engine.schedules.fire_due() == 0
        resumed = await engine.schedules.resume("pausable")
        # What fell due while paused is not owed, whatever the catch-up policy.
        assert resumed.next_fire_times[0].ToDatetime(UTC) == at("2026-01-01T00:25:00+00:00")
        assert await engine.schedules.fire_due() == 0
        clock.now = at("2026-01-01T00:22:30+00:00")
        run = await engine.schedules.trigger("pausable")
        assert run.schedule == "pausable"
        triggered = await engine.schedules.get("pausable")
        assert triggered.last_run_id == run.run_id
        assert triggered.last_fire_time.ToDatetime(UTC) == at("2026-01-01T00:22:30+00:00")
        assert triggered.next_fire_times[0].ToDatetime(UTC) == at("2026-01-01T00:25:00+00:00")
        assert len(await scheduled_runs(engine, "pausable")) == 1
        await engine.schedules.delete("pausable")
        with pytest.raises(NotFound):
            await engine.schedules.get("pausable")
        assert await engine.get_run(run.run_id)  # its runs stay


async def test_trigger_refuses_while_a_skipping_schedules_run_is_unfinished(
    tmp_path: Path, agent_address: str
) -> None:
    case, _ = new_case({("work", None, 1): Outcome(delay=60)})
    async with running_engine(store_at(str(tmp_path / "runs.db")), agent_address, WORKFLOWS) as engine:
        await engine.schedules.create(schedule("busy", case, cron="0 0 1 1 *"), "")
        first = await engine.schedules.trigger("busy")
        with pytest.raises(FailedPrecondition) as refused:
            await engine.schedules.trigger("busy")
        assert refused.value.reason == "PREVIOUS_RUN_UNFINISHED"
        await engine.cancel_run(first.run_id, "test over")


@pytest.mark.parametrize(
    ("cron", "start", "moves", "expected"),
    [
        # Spring forward in Berlin (2026-03-29): 02:30 does not exist; it fires at 03:00 CEST.
        ("30 2 * * *", "2026-03-28T23:00:00+00:00", ["2026-03-29T01:00:01+00:00"], ["2026-03-29T01:00:00"]),
        # Fall back (2026-10-25): 02:30 happens twice; it fires once, in the first pass (CEST).
        (
            "30 2 * * *",
            "2026-10-24T23:00:00+00:00",
            ["2026-10-25T00:30:01+00:00", "2026-10-25T01:30:01+00:00"],
            ["2026-10-25T00:30:00"],
        ),
        # An hourly job runs in both passes of the repeated hour.
        (
            "30 * * * *",
            "2026-10-25T00:00:00+00:00",
            ["2026-10-25T00:30:01+00:00", "2026-10-25T01:30:01+00:00"],
            ["2026-10-25T00:30:00", "2026-10-25T01:30:00"],
        ),
    ],
)
async def test_time_zones_across_daylight_saving_changes_fire_as_cron_does(
    tmp_path: Path, agent_address: str, cron: str, start: str, moves: list[str], expected: list[str]
) -> None:
    clock = Clock(at(start))
    case, _ = new_case({})
    async with running_engine(
        store_at(str(tmp_path / "runs.db")), agent_address, WORKFLOWS, clock=clock
    ) as e:
        await e.schedules.create(schedule("berlin", case, cron=cron, time_zone="Europe/Berlin"), "")
        for move in moves:
            clock.now = at(move)
            await until_next_fire_after(e, "berlin", clock.now)
        assert await ticks_started(e, "berlin") == [f"{tick}+00:00" for tick in expected]


async def until_next_fire_after(engine: Engine, name: str, moment: datetime) -> None:
    async with asyncio.timeout(20):
        while True:
            current = await engine.schedules.get(name)
            if current.next_fire_times[0].ToDatetime(UTC) > moment:
                return
            await asyncio.sleep(0.05)


async def test_bad_schedules_are_refused_by_field_and_nothing_is_stored(
    tmp_path: Path, agent_address: str
) -> None:
    async with running_engine(store_at(str(tmp_path / "runs.db")), agent_address, WORKFLOWS) as engine:
        cases: list[tuple[pb.Schedule, str]] = [
            (schedule("Not_Kebab", "c"), "schedule.name"),
            (schedule("bad-cron", "c", cron="61 * * * *"), "schedule.cron"),
            (schedule("four-fields", "c", cron="* * * *"), "schedule.cron"),
            (schedule("bad-zone", "c", time_zone="Mars/Olympus"), "schedule.time_zone"),
            (schedule("long-cron", "c", cron="*" * 500), "schedule.cron"),
            (pb.Schedule(name="no-workflow", cron="* * * * *"), "schedule.workflow_name"),
            (pb.Schedule(name="unknown", workflow_name="nope", cron="* * * * *"), "schedule.workflow_name"),
            (pb.Schedule(name="no-inputs", workflow_name="job", cron="* * * * *"), "schedule.inputs.case"),
            (schedule("bad-overlap", "c", overlap=99), "schedule.overlap"),
        ]
        for spec, field in cases:
            with pytest.raises(InvalidInput) as refused:
                await engine.schedules.create(spec, "")
            assert field in [v.field for v in refused.value.violations], (spec.name, refused.value.message)
            assert len(refused.value.message) < 2000
            with pytest.raises(NotFound):
                await engine.schedules.get(spec.name)
        assert await engine.schedules.list(0, "") == ([], "")


async def test_another_principals_schedules_are_not_there(tmp_path: Path, agent_address: str) -> None:
    async with running_engine(store_at(str(tmp_path / "runs.db")), agent_address, WORKFLOWS) as engine:
        for name, owner in (("a-1", "alice"), ("a-2", "alice"), ("b-1", "bob")):
            await engine.schedules.create(schedule(name, "c", cron="0 0 1 1 *"), owner)
        listed, _ = await engine.schedules.list(0, "", owner="alice")
        assert [s.name for s in listed] == ["a-1", "a-2"]
        for change in (
            engine.schedules.get("b-1", owner="alice"),
            engine.schedules.pause("b-1", "", owner="alice"),
            engine.schedules.trigger("b-1", owner="alice"),
            engine.schedules.delete("b-1", owner="alice"),
        ):
            with pytest.raises(NotFound):
                await change
        assert (await engine.schedules.get("b-1")).paused is False
        # Pages by name, every schedule once.
        first, token = await engine.schedules.list(2, "")
        rest, end = await engine.schedules.list(2, token)
        assert ([s.name for s in first + rest], end) == (["a-1", "a-2", "b-1"], "")


async def test_two_replicas_firing_the_same_ticks_start_one_run_each(
    postgres_database: str, agent_address: str
) -> None:
    clock = Clock(at("2026-01-01T00:00:30+00:00"))
    case, _ = new_case({})

    def replica(name: str) -> PostgresRunStore:
        return PostgresRunStore(postgres_database, replica=name, lease_seconds=1.5)

    async with (
        running_engine(replica("a"), agent_address, WORKFLOWS, clock=clock) as a,
        running_engine(replica("b"), agent_address, WORKFLOWS, clock=clock) as b,
    ):
        await a.schedules.create(
            schedule("shared", case, cron="* * * * *", overlap=pb.OVERLAP_POLICY_ALLOW), ""
        )
        for minute in range(1, 9):
            clock.now = at(f"2026-01-01T00:{minute:02}:00+00:00")
            # Both replicas' rounds at once, racing each other, besides their own loops.
            await asyncio.gather(a.schedules.fire_due(), b.schedules.fire_due())
            await until_fired(b, "shared", clock.now)
        started = await ticks_started(a, "shared")
        assert started == [f"2026-01-01T00:{minute:02}:00+00:00" for minute in range(1, 9)]
