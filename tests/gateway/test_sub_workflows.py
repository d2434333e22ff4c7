"""Sub-workflow steps, on SQLite and PostgreSQL: a step runs another workflow as a child run.

The engine in this test's loop against the scripted agent over real gRPC. A child knows its
parent, the parent its children; the child's outputs are the step's output; a failed child
fails the step; ending the parent cancels its children; for_each starts one child per item;
nesting is bounded; a restart mid-child starts no second child.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
import pytest_asyncio

from agentmesh.messages import struct_to_dict, value_to_python
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.step_kinds import MAX_DEPTH
from agentmesh_gateway.store import RunStore, open_store
from tests.support.engine import AGENT, Outcome, history, new_case, running_engine, start
from tests.support.mesh import workflow

CHILD = workflow(
    {
        "name": "child",
        "inputs": [{"name": "case", "required": True}, {"name": "n", "default_value": 0}],
        "steps": [{"id": "work", "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}}],
        "outputs": {"n": "${inputs.n}", "done": True},
    }
)
SELF_CALLING = workflow(
    {
        "name": "forever",
        "steps": [{"id": "again", "workflow": "forever"}],
    }
)
WORKFLOWS: Mapping[str, workflow_pb2.Workflow] = {"child": CHILD, "forever": SELF_CALLING}


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
    async with running_engine(store_at(location), agent_address, WORKFLOWS) as running:
        yield running


def parent(**step: object) -> workflow_pb2.Workflow:
    call = {"id": "sub", "workflow": "child", "input": {"case": "${inputs.case}", "n": 7}, **step}
    return workflow(
        {
            "name": "parent",
            "inputs": [{"name": "case"}],
            "steps": [
                call,
                {
                    "id": "after",
                    "agent": AGENT,
                    "skill": "act",
                    "input": {"case": "${inputs.case}"},
                    "dependencies": ["sub"],
                },
            ],
        }
    )


async def until(engine: Engine, run_id: str, *states: int, seconds: float = 30) -> run_pb2.Run:
    async with asyncio.timeout(seconds):
        while (run := await engine.get_run(run_id)).state not in states:
            await asyncio.sleep(0.02)
    return run


async def test_a_child_run_is_linked_both_ways_and_its_outputs_are_the_step_output(engine: Engine) -> None:
    case, script = new_case({})
    run_id = await start(engine, parent(), {"case": case})
    done = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    sub = done.steps[0]
    assert value_to_python(sub.output) == {"n": 7, "done": True}
    [child_id] = sub.child_run_ids
    child = await engine.get_run(child_id)
    assert (child.parent.run_id, child.parent.step_id, child.depth) == (run_id, "sub", 1)
    assert child.state == run_pb2.RUN_STATE_SUCCEEDED and child.workflow.name == "child"
    assert sorted(call.step for call in script.calls) == ["after", "work"]
    [started] = [
        e.step_child_started for e in await history(engine, run_id) if e.HasField("step_child_started")
    ]
    assert (started.child_run_id, started.workflow_name) == (child_id, "child")


async def test_a_failed_child_fails_its_step_with_the_childs_error(engine: Engine) -> None:
    case, script = new_case({("work", None, 1): Outcome(code="FAILED_PRECONDITION")})
    run_id = await start(engine, parent(), {"case": case})
    failed = await until(engine, run_id, run_pb2.RUN_STATE_FAILED)
    assert (failed.error.step_id, failed.error.reason, failed.error.code) == (
        "sub",
        "CHILD_FAILED",
        "FAILED_PRECONDITION",
    )
    [child_id] = failed.steps[0].child_run_ids
    assert child_id in failed.error.message
    assert [call.step for call in script.calls] == ["work"]


async def test_cancelling_the_parent_cancels_its_child(engine: Engine) -> None:
    case, script = new_case({("work", None, 1): Outcome(delay=60)})
    run_id = await start(engine, parent(), {"case": case})
    running = await until(engine, run_id, run_pb2.RUN_STATE_RUNNING)
    async with asyncio.timeout(20):
        while not (running := await engine.get_run(run_id)).steps[0].child_run_ids or not script.calls:
            await asyncio.sleep(0.02)
    [child_id] = running.steps[0].child_run_ids
    await engine.cancel_run(run_id, "not needed")
    child = await until(engine, child_id, run_pb2.RUN_STATE_CANCELLED)
    [reason] = [
        e.run_cancelled.reason for e in await history(engine, child_id) if e.HasField("run_cancelled")
    ]
    assert "its parent run" in reason
    assert child.steps[0].state == run_pb2.STEP_STATE_CANCELLED
    async with asyncio.timeout(10):
        while not script.calls[0].cancelled:
            await asyncio.sleep(0.02)


async def test_for_each_starts_one_child_per_item(engine: Engine) -> None:
    case, _ = new_case({})
    flow = workflow(
        {
            "name": "fan",
            "inputs": [{"name": "case"}],
            "steps": [
                {
                    "id": "each",
                    "workflow": "child",
                    "for_each": "${[1, 2, 3]}",
                    "input": {"case": "${inputs.case}", "n": "${item}"},
                }
            ],
        }
    )
    run_id = await start(engine, flow, {"case": case})
    done = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    assert value_to_python(done.steps[0].output) == [{"n": n, "done": True} for n in (1, 2, 3)]
    children = [await engine.get_run(child) for child in done.steps[0].child_run_ids]
    assert sorted(c.parent.item for c in children) == [0, 1, 2]
    assert sorted(struct_to_dict(c.inputs)["n"] for c in children) == [1, 2, 3]


async def test_nesting_is_bounded(engine: Engine) -> None:
    run_id = await start(engine, SELF_CALLING, {})
    failed = await until(engine, run_id, run_pb2.RUN_STATE_FAILED, seconds=60)
    # The deepest run could not start a child; each ancestor fails with its child's error.
    assert failed.error.reason == "CHILD_FAILED"
    deepest = failed
    while deepest.steps[0].child_run_ids:
        deepest = await until(engine, deepest.steps[0].child_run_ids[0], run_pb2.RUN_STATE_FAILED)
    assert (deepest.depth, deepest.error.reason) == (MAX_DEPTH, "DEPTH_EXCEEDED")


async def test_a_restart_while_the_child_runs_starts_no_second_child(
    location: str, agent_address: str
) -> None:
    case, script = new_case({("work", None, 1): Outcome(delay=1.5)})
    async with running_engine(store_at(location), agent_address, WORKFLOWS) as first:
        run_id = await start(first, parent(), {"case": case})
        async with asyncio.timeout(20):
            while not script.calls:
                await asyncio.sleep(0.02)
    async with running_engine(store_at(location), agent_address, WORKFLOWS) as second:
        done = await until(second, run_id, run_pb2.RUN_STATE_SUCCEEDED)
        assert len(done.steps[0].child_run_ids) == 1
        children = [r async for r in _runs(second) if r.parent.run_id == run_id]
        assert len(children) == 1
    # The child's call in flight was sent again with its key (at most once more), never by a second child.
    assert {call.key.split("/")[0] for call in script.calls if call.step == "work"} == {children[0].run_id}


async def _runs(engine: Engine) -> AsyncIterator[run_pb2.Run]:
    token = ""
    while True:
        page = await engine.list_runs(0, 100, token)
        for run in page.runs:
            yield run
        token = page.next_page_token
        if not token:
            return
