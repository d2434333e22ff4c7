"""Steps that wait with no agent to call: sleep/until and ask, on SQLite and PostgreSQL.

The engine in this test's loop against the scripted agent over real gRPC. A sleep longer than
the engine holds a run for parks it (RUN_STATE_SLEEPING, nothing executing it) until the alarm
wakes it; the due time is recorded, so an engine started on the store after a stop keeps it.
An ask step waits for a person allowed to answer, or for its timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import pytest_asyncio

from agentmesh.errors import InvalidInput, PermissionDenied
from agentmesh.messages import Message, struct_to_dict, value_to_python
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.auth import Principal, Role, current_principal
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.execution import HOLD_SECONDS
from agentmesh_gateway.store import RunStore, open_store
from tests.support.engine import AGENT, history, new_case, running_engine, start
from tests.support.mesh import workflow

#: Longer than the engine holds a sleeping run in its task: these sleeps park their runs.
PARKING_SLEEP = HOLD_SECONDS + 1.5


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


def store_at(location: str) -> RunStore:
    return open_store(location, lease_seconds=1.5)


@pytest_asyncio.fixture
async def engine(location: str, agent_address: str) -> AsyncIterator[Engine]:
    async with running_engine(store_at(location), agent_address) as running:
        yield running


def act(step_id: str, **fields: object) -> dict[str, object]:
    return {"id": step_id, "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}, **fields}


async def until(engine: Engine, run_id: str, *states: int, seconds: float = 30) -> run_pb2.Run:
    async with asyncio.timeout(seconds):
        while (run := await engine.get_run(run_id)).state not in states:
            await asyncio.sleep(0.02)
    return run


async def released(engine: Engine, run_id: str) -> None:
    """Wait until no task of the engine executes the run (a parked run's task ends after it
    records that it waits)."""
    async with asyncio.timeout(30):
        while engine._runs.executes(run_id):
            await asyncio.sleep(0.01)


def kinds(events: list[run_pb2.RunEvent]) -> list[str]:
    return [str(event.WhichOneof("event")) for event in events]


async def test_a_long_sleep_parks_the_run_and_the_alarm_wakes_it(engine: Engine) -> None:
    case, script = new_case({})
    flow = workflow(
        {
            "name": "nap",
            "steps": [{"id": "nap", "sleep": f"{PARKING_SLEEP}s"}, act("after", dependencies=["nap"])],
        }
    )
    begun = time.time()
    run_id = await start(engine, flow, {"case": case})
    sleeping = await until(engine, run_id, run_pb2.RUN_STATE_SLEEPING)
    due = sleeping.wake_time.ToNanoseconds() / 1e9
    assert begun + PARKING_SLEEP - 0.5 <= due <= time.time() + PARKING_SLEEP
    assert sleeping.steps[0].state == run_pb2.STEP_STATE_SLEEPING
    await released(engine, run_id)  # parked: no task holds it
    assert script.calls == []
    done = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    woke = datetime.fromisoformat(value_to_python(done.steps[0].output)["woke_at"]).timestamp()
    assert woke == pytest.approx(due, abs=0.001)
    [call] = script.calls
    assert call.step == "after"
    events = kinds(await history(engine, run_id))
    assert events.index("step_sleeping") < events.index("run_waiting") < events.index("run_resumed")


async def test_a_sleeping_run_survives_a_restart_with_its_due_time(location: str, agent_address: str) -> None:
    case, _ = new_case({})
    flow = workflow(
        {
            "name": "nap",
            "steps": [{"id": "nap", "sleep": f"{PARKING_SLEEP}s"}, act("after", dependencies=["nap"])],
        }
    )
    async with running_engine(store_at(location), agent_address) as first:
        run_id = await start(first, flow, {"case": case})
        due = (await until(first, run_id, run_pb2.RUN_STATE_SLEEPING)).wake_time.ToNanoseconds()
    async with running_engine(store_at(location), agent_address) as second:
        done = await until(second, run_id, run_pb2.RUN_STATE_SUCCEEDED)
        assert done.steps[0].wake_time.ToNanoseconds() == due  # the recorded due time, not a new one
        assert time.time_ns() >= due


async def test_a_short_sleep_holds_the_run_and_until_in_the_past_is_done_at_once(engine: Engine) -> None:
    case, _ = new_case({})
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    flow = workflow(
        {
            "name": "short",
            "inputs": [{"name": "case"}, {"name": "when"}],
            "steps": [
                {"id": "blink", "sleep": "200ms"},
                {"id": "then", "until": "${inputs.when}", "dependencies": ["blink"]},
            ],
        }
    )
    run_id = await start(engine, flow, {"case": case, "when": past})
    await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    assert "run_waiting" not in kinds(await history(engine, run_id))  # never parked


async def test_a_bad_until_fails_its_step_naming_it(engine: Engine) -> None:
    flow = workflow(
        {"name": "bad", "inputs": [{"name": "when"}], "steps": [{"id": "then", "until": "${inputs.when}"}]}
    )
    run_id = await start(engine, flow, {"when": "tomorrow-ish"})
    failed = await until(engine, run_id, run_pb2.RUN_STATE_FAILED)
    assert (failed.error.reason, failed.error.step_id) == ("EXPRESSION_FAILED", "then")
    assert "until" in failed.error.message and "RFC 3339" in failed.error.message


def approval(**ask: object) -> workflow_pb2.Workflow:
    return workflow(
        {
            "name": "publish",
            "inputs": [{"name": "case"}, {"name": "title"}],
            "steps": [
                {"id": "approve", "ask": {"question": "Publish ${inputs.title}?", "approval": True, **ask}},
                act("publish", dependencies=["approve"], when="${steps.approve.output.approved}"),
            ],
        }
    )


def approved(yes: bool, comment: str = "") -> Message:
    return Message.request({"approved": yes, **({"comment": comment} if comment else {})}, sender="person")


async def test_an_approval_waits_for_an_allowed_principal_and_its_answer_drives_the_next_step(
    engine: Engine,
) -> None:
    case, script = new_case({})
    run_id = await start(engine, approval(principals=["carol"]), {"case": case, "title": "Q3 report"})
    waiting = await until(engine, run_id, run_pb2.RUN_STATE_WAITING_FOR_INPUT)
    [question] = waiting.steps[0].pending_input
    assert Message.from_proto(question.question).text == "Publish Q3 report?"
    assert list(question.principals) == ["carol"]
    assert struct_to_dict(question.answer_schema)["required"] == ["approved"]
    await released(engine, run_id)
    token = current_principal.set(Principal("dave", Role.ADMIN))
    try:
        with pytest.raises(PermissionDenied) as refused:
            await engine.provide_input(run_id, "approve", None, approved(True).to_proto())
        assert refused.value.reason == "NOT_AN_ANSWERER"
    finally:
        current_principal.reset(token)
    token = current_principal.set(Principal("carol", Role.VIEWER))
    try:
        with pytest.raises(InvalidInput) as bad:
            await engine.provide_input(
                run_id, "approve", None, Message.request({"approved": "sure"}).to_proto()
            )
        assert [v.field for v in bad.value.violations] == ["answer.approved"]
        await engine.provide_input(
            run_id, "approve", None, approved(True, "ship it").to_proto(), principal="carol"
        )
    finally:
        current_principal.reset(token)
    done = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    assert value_to_python(done.steps[0].output) == {"approved": True, "comment": "ship it"}
    assert [call.step for call in script.calls] == ["publish"]
    provided = [
        e.step_input_provided for e in await history(engine, run_id) if e.HasField("step_input_provided")
    ]
    assert [(p.principal, p.timed_out) for p in provided] == [("carol", False)]


async def test_a_role_decides_who_may_answer_when_no_principal_is_named(engine: Engine) -> None:
    case, script = new_case({})
    run_id = await start(engine, approval(role="admin"), {"case": case, "title": "x"})
    await until(engine, run_id, run_pb2.RUN_STATE_WAITING_FOR_INPUT)
    token = current_principal.set(Principal("olga", Role.OPERATOR))
    try:
        with pytest.raises(PermissionDenied) as refused:
            await engine.provide_input(run_id, "approve", None, approved(False).to_proto())
        assert refused.value.metadata["required"] == "admin"
    finally:
        current_principal.reset(token)
    await engine.provide_input(run_id, "approve", None, approved(False).to_proto())  # no auth: anyone
    done = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    assert done.steps[1].state == run_pb2.STEP_STATE_SKIPPED and script.calls == []


async def test_an_unanswered_question_takes_its_default_at_the_timeout(engine: Engine) -> None:
    case, _ = new_case({})
    flow = approval(timeout=f"{PARKING_SLEEP}s", default_answer={"approved": False, "comment": "no answer"})
    run_id = await start(engine, flow, {"case": case, "title": "x"})
    waiting = await until(engine, run_id, run_pb2.RUN_STATE_WAITING_FOR_INPUT)
    assert waiting.HasField("wake_time") and waiting.steps[0].pending_input[0].HasField("deadline")
    done = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    assert value_to_python(done.steps[0].output) == {"approved": False, "comment": "no answer"}
    provided = [
        e.step_input_provided for e in await history(engine, run_id) if e.HasField("step_input_provided")
    ]
    assert [(p.principal, p.timed_out) for p in provided] == [("agentmesh:timeout", True)]


async def test_a_question_without_a_default_fails_its_step_at_the_timeout(engine: Engine) -> None:
    case, _ = new_case({})
    run_id = await start(engine, approval(timeout="1s"), {"case": case, "title": "x"})
    failed = await until(engine, run_id, run_pb2.RUN_STATE_FAILED)
    assert (failed.error.code, failed.error.reason) == ("DEADLINE_EXCEEDED", "ASK_TIMED_OUT")


async def test_cancelling_a_sleeping_run_ends_it(engine: Engine) -> None:
    flow = workflow({"name": "long-nap", "steps": [{"id": "nap", "sleep": "1h"}]})
    run_id = await start(engine, flow, {})
    await until(engine, run_id, run_pb2.RUN_STATE_SLEEPING)
    cancelled = await engine.cancel_run(run_id, "enough")
    assert cancelled.state == run_pb2.RUN_STATE_CANCELLED
    assert cancelled.steps[0].state == run_pb2.STEP_STATE_CANCELLED
    assert not cancelled.HasField("wake_time")
