"""Property-based tests of the engine over generated workflows, failures, cancellations and crashes.

Each case is a random DAG (tests/dags.py) run in-process by the real engine, on a
real SQLite file, calling a scripted agent over real gRPC (tests/engine_harness.py).
Whatever the shape and timing, a run must: call every invocation's attempts exactly
once and in dependency order, hand each step its dependencies' outputs, keep a
gap-free event log that replays to the state it reached live, and end as the oracle
says. A crash at any commit and a resume must change none of that; a cancel at any
moment must leave a consistent, cancelled run.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest
import pytest_asyncio
from hypothesis import strategies as st

from agentmesh.messages import value_to_python
from agentmesh.v1 import run_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.store.sqlite import SqliteRunStore
from tests.support.dags import Case, Expected, Key, cases, expect
from tests.support.engine import (
    Call,
    CrashingStore,
    finish,
    new_case,
    replay,
    running_engine,
    start,
)
from tests.support.properties import for_each_example

pytestmark = pytest.mark.slow

T = TypeVar("T")

TERMINAL_STEP_EVENTS = ("step_completed", "step_failed", "step_skipped")
STATE_NAMES = {
    run_pb2.STEP_STATE_SUCCEEDED: "succeeded",
    run_pb2.STEP_STATE_SKIPPED: "skipped",
    run_pb2.STEP_STATE_FAILED: "failed",
    run_pb2.STEP_STATE_CANCELLED: "cancelled",
}

_files = itertools.count()


@pytest_asyncio.fixture(scope="module")
async def engine(agent_address: str, store_dir: Path) -> AsyncIterator[Engine]:
    async with running_engine(SqliteRunStore(store_dir / "shared.db"), agent_address) as running:
        yield running


# --- what every run must satisfy -------------------------------------------------------------


def key_of(call: Call) -> Key:
    return (call.step, call.item, call.attempt)


def event_key(event: run_pb2.RunEvent) -> Key | None:
    kind = event.WhichOneof("event")
    if kind not in ("step_started", "step_completed", "step_retrying", "step_failed"):
        return None
    body = getattr(event, kind)
    return (body.step_id, body.item if body.HasField("item") else None, body.attempt)


def check_log(events: list[run_pb2.RunEvent], snapshot: run_pb2.Run) -> None:
    """Gap-free, one start and one end, and replaying it gives the state the run reached live."""
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert events[0].WhichOneof("event") == "run_started"
    ends = [
        i
        for i, e in enumerate(events)
        if e.WhichOneof("event") in ("run_completed", "run_failed", "run_cancelled")
    ]
    assert ends == [len(events) - 1]
    assert replay(events) == snapshot


def check_dependency_order(case: Case, events: list[run_pb2.RunEvent]) -> None:
    """A step starts (or is skipped) only after each of its dependencies has ended."""
    ended: dict[str, int] = {}
    for index, event in enumerate(events):
        kind = event.WhichOneof("event")
        if kind in TERMINAL_STEP_EVENTS:
            body = getattr(event, kind)
            if not (kind == "step_completed" and body.HasField("item")):
                assert body.step_id not in ended, f"{body.step_id} ended twice"
                ended[body.step_id] = index
        if kind in ("step_started", "step_skipped"):
            step_id = getattr(event, kind).step_id
            for dep in case.step(step_id).deps:
                assert ended.get(dep, len(events)) < index, f"{step_id} began before {dep} ended"


def check_data(calls: list[Call], snapshot: run_pb2.Run) -> None:
    """Every call received its dependencies' recorded outputs (null for a skipped or failed one)."""
    outputs = {s.step_id: value_to_python(s.output) if s.HasField("output") else None for s in snapshot.steps}
    for call in calls:
        assert call.deps == {dep: outputs[dep] for dep in call.deps}, call.step


def check_calls_match_events(calls: list[Call], events: list[run_pb2.RunEvent]) -> None:
    """Each call is announced by its StepStarted, and no attempt is called twice."""
    started = {event_key(e) for e in events if e.WhichOneof("event") == "step_started"}
    keys = [key_of(call) for call in calls]
    assert all(key in started for key in keys)
    assert [key for key, n in Counter(keys).items() if n > 1] == []


def check_outcome(
    case: Case, expected: Expected, snapshot: run_pb2.Run, calls: list[Call], *, once: bool = True
) -> None:
    """The run ends as the oracle says, and each step that ended made the calls it had to.

    `once`: each attempt was called exactly once (not so across a crash, where an
    attempt in flight goes out again)."""
    assert all(expected.allowed(key_of(call)) for call in calls)
    states = {s.step_id: STATE_NAMES.get(s.state, "unfinished") for s in snapshot.steps}
    if expected.fatal:
        assert snapshot.state == run_pb2.RUN_STATE_FAILED
        assert snapshot.error.step_id in expected.fatal
        # Steps the failure cut short are cancelled; the others ended as the oracle says.
        assert all(
            state in (expected.state[sid].replace("fatal", "failed"), "cancelled")
            for sid, state in states.items()
        )
    else:
        assert snapshot.state == run_pb2.RUN_STATE_SUCCEEDED, snapshot.error
        assert states == expected.state
    for sid, state in states.items():
        made = {
            item: sorted({c.attempt for c in calls if (c.step, c.item) == (sid, item)})
            for item in case.step(sid).invocations()
        }
        if once:
            assert sum(map(len, made.values())) == sum(1 for c in calls if c.step == sid)
        if state == "succeeded":  # every invocation ran to its end
            assert all(attempts == expected.attempts[(sid, item)] for item, attempts in made.items())
        elif state == "failed":  # one invocation failed for good (and cut the others short)
            assert any(
                made[item] == expected.attempts[(sid, item)] for sid_, item in expected.fails if sid_ == sid
            )


async def settled(calls: list[Call]) -> None:
    """Wait until the agent has finished with every call (a cancelled one ends shortly after)."""
    async with asyncio.timeout(10):
        while any(call.ended is None for call in calls):
            await asyncio.sleep(0.005)


async def consistent_end(
    engine: Engine, run_id: str, case: Case, calls: list[Call]
) -> tuple[list[run_pb2.RunEvent], run_pb2.Run]:
    """Follow the run to its end and check what holds of every run; its history and snapshot."""
    events = await finish(engine, run_id)
    snapshot = await engine.get_run(run_id)
    await settled(calls)
    check_log(events, snapshot)
    check_dependency_order(case, events)
    check_calls_match_events(calls, events)
    check_data(calls, snapshot)
    return events, snapshot


# --- the properties --------------------------------------------------------------------------


async def test_generated_workflows_run_every_attempt_once_in_order_as_the_oracle_says(engine: Engine) -> None:
    async def check(case: Case) -> None:
        case_id, script = new_case(case.outcomes())
        run_id = await start(engine, case.workflow(), case.inputs(case_id))
        _, snapshot = await consistent_end(engine, run_id, case, script.calls)
        check_outcome(case, expect(case), snapshot, script.calls)

    await for_each_example(check, cases())


async def test_a_cancel_at_any_moment_leaves_a_consistent_cancelled_run(engine: Engine) -> None:
    async def check(case: Case, wait: float | None) -> None:
        case_id, script = new_case(case.outcomes())
        run_id = await start(engine, case.workflow(), case.inputs(case_id))
        if wait is not None:  # None: before the run's task has even begun
            await asyncio.sleep(wait)
        cancelled = await engine.cancel_run(run_id, "property test")
        events, snapshot = await consistent_end(engine, run_id, case, script.calls)
        expected = expect(case)
        assert all(expected.allowed(key_of(call)) for call in script.calls)
        if snapshot.state == run_pb2.RUN_STATE_CANCELLED:
            assert cancelled == snapshot
            assert events[-1].run_cancelled.reason == "property test"
            assert all(s.state != run_pb2.STEP_STATE_RUNNING for s in snapshot.steps)
        else:  # it ended before the cancel came, as it would have anyway
            check_outcome(case, expected, snapshot, script.calls)

    await for_each_example(check, cases(), st.sampled_from([None, 0.0, 0.001, 0.003, 0.01, 0.03]))


async def test_a_crash_at_any_commit_then_resume_ends_the_run_as_without_the_crash(
    agent_address: str, store_dir: Path
) -> None:
    async def check(case: Case, durable_writes: int) -> None:
        path = store_dir / f"crash-{next(_files)}.db"
        case_id, script = new_case(case.outcomes())
        store = CrashingStore(path, durable_writes)
        async with running_engine(store, agent_address) as doomed:
            run_id = await start(doomed, case.workflow(), case.inputs(case_id))
            ended = asyncio.create_task(finish(doomed, run_id))
            crashed = asyncio.create_task(store.crashed.wait())
            await asyncio.wait([ended, crashed], return_when=asyncio.FIRST_COMPLETED)
            for task in (ended, crashed):
                task.cancel()
        before = len(script.calls)
        await settled(script.calls)

        plain = SqliteRunStore(path)
        await plain.open()
        durable = [record.event() for record in await plain.events_after(run_id, 0, 10_000)]
        await plain.close()
        decided = {
            event_key(e)
            for e in durable
            if e.WhichOneof("event") in ("step_completed", "step_retrying", "step_failed")
        }

        async with running_engine(SqliteRunStore(path), agent_address) as resumed:
            events = await finish(resumed, run_id)
            snapshot = await resumed.get_run(run_id)
            await settled(script.calls)
        after = script.calls[before:]
        assert [key_of(c) for c in after if key_of(c) in decided] == [], (
            "an attempt with a recorded outcome ran again"
        )
        assert events[: len(durable)] == durable
        resumes = [e for e in events if e.WhichOneof("event") == "run_resumed"]
        assert len(resumes) == (
            0 if durable[-1].WhichOneof("event") in ("run_completed", "run_failed") else 1
        )
        check_log(events, snapshot)
        check_dependency_order(case, events)
        check_data(script.calls, snapshot)
        check_outcome(case, expect(case), snapshot, script.calls, once=False)

    await for_each_example(check, cases(), st.integers(1, 25))
