"""Property tests of the step kinds that wait or nest (sleep, ask, sub-workflow) mixed with agent
steps, and of budgets, with the gateway dying at any commit, on SQLite and on PostgreSQL.

Generated DAGs of agent steps (some failing once, then retried), sleeps (some short enough to
hold the run, some long enough to park it), questions to a person (answered after a generated
delay, or left to time out to their default) and sub-workflow steps (some over for_each). A
gateway dies at a generated commit and another resumes on the same store. Whatever the timing:
the run succeeds with every step, no agent call whose outcome was recorded is made again, no
sleep ends before its recorded due time and none gets a second due time, no question is answered
twice, and each sub-workflow step (or item) has one child run. A budgeted chain spends no more
than one call beyond its limit, however the crash falls.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from agentmesh.errors import AgentMeshError
from agentmesh.messages import Message
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.store import RunStore, open_store
from tests.gateway.test_engine_properties import check_log, settled
from tests.gateway.test_input_properties import decided, turn_of
from tests.support.engine import (
    AGENT,
    CrashingPostgresStore,
    CrashingStore,
    Outcome,
    StoreCrashed,
    finish,
    history,
    new_case,
    running_engine,
    start,
)
from tests.support.mesh import workflow
from tests.support.properties import for_each_example

pytestmark = pytest.mark.slow

_files = itertools.count()
CHILD = workflow(
    {
        "name": "child",
        "inputs": [{"name": "case", "required": True}],
        "steps": [{"id": "inner", "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}}],
        "outputs": {"ok": True},
    }
)
WORKFLOWS: Mapping[str, workflow_pb2.Workflow] = {"child": CHILD}
#: Sleeps: done at once, held in the run's task, and long enough to park the run.
SLEEPS = ("0s", "200ms", "2500ms")


@dataclass(frozen=True)
class Spec:
    kind: str  # agent, fan, sleep, ask, ask-timeout, child, children
    deps: tuple[int, ...]
    sleep: str = "0s"
    flaky: bool = False


@st.composite
def dags(draw: st.DrawFn) -> list[Spec]:
    specs: list[Spec] = []
    for index in range(draw(st.integers(2, 6))):
        kind = draw(st.sampled_from(["agent", "fan", "sleep", "ask", "ask-timeout", "child", "children"]))
        deps = tuple(sorted(draw(st.sets(st.integers(0, index - 1), max_size=2)))) if index else ()
        specs.append(Spec(kind, deps, sleep=draw(st.sampled_from(SLEEPS)), flaky=draw(st.booleans())))
    return specs


def build(specs: list[Spec]) -> tuple[workflow_pb2.Workflow, dict[tuple[str, int | None, int], Outcome]]:
    steps: list[dict[str, Any]] = []
    outcomes: dict[tuple[str, int | None, int], Outcome] = {}
    for index, spec in enumerate(specs):
        sid = f"s{index}"
        step: dict[str, Any] = {"id": sid, "dependencies": [f"s{d}" for d in spec.deps]}
        case_input = {"case": "${inputs.case}"}
        if spec.kind in ("agent", "fan"):
            step |= {"agent": AGENT, "skill": "act", "input": case_input, "retry": {"initial_delay": "0.01s"}}
            items = [0, 1, 2] if spec.kind == "fan" else [None]
            if spec.kind == "fan":
                step["for_each"] = "${[0, 1, 2]}"
            for item in items:
                if spec.flaky:
                    outcomes[sid, item, 1] = Outcome(code="UNAVAILABLE")
                outcomes[sid, item, 2 if spec.flaky else 1] = Outcome(delay=0.02)
        elif spec.kind == "sleep":
            step["sleep"] = spec.sleep
        elif spec.kind == "ask":
            step["ask"] = {"question": f"Go on with {sid}?", "approval": True}
        elif spec.kind == "ask-timeout":
            step["ask"] = {
                "question": "Nobody answers this",
                "approval": True,
                "timeout": spec.sleep.replace("0s", "1ms"),
                "default_answer": {"approved": True},
            }
        else:
            step |= {"workflow": "child", "input": case_input}
            if spec.kind == "children":
                step["for_each"] = "${[0, 1]}"
        steps.append(step)
    flow = workflow({"name": "mixed", "inputs": [{"name": "case"}], "steps": steps})
    return flow, outcomes


async def answering(engine: Engine, run_id: str, delay: float) -> None:
    """Answer every ask step without a timeout, `delay` after seeing its question."""
    while True:
        with contextlib.suppress(AgentMeshError, StoreCrashed, OSError):
            for step in (await engine.get_run(run_id)).steps:
                for request in step.pending_input:
                    if request.HasField("deadline"):
                        continue  # left to time out to its default
                    await asyncio.sleep(delay)
                    answer = Message.request({"approved": True}, sender="person").to_proto()
                    await engine.provide_input(run_id, request.step_id, None, answer)
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def answered(engine: Engine, run_id: str, delay: float) -> AsyncIterator[None]:
    task = asyncio.create_task(answering(engine, run_id, delay))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def check_waits(events: list[run_pb2.RunEvent]) -> None:
    """No sleep ended before its due time, and none was given a second one; no turn answered twice."""
    due: dict[str, int] = {}
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "step_sleeping":
            sleeping = event.step_sleeping
            assert sleeping.step_id not in due, f"{sleeping.step_id} got a second due time"
            due[sleeping.step_id] = sleeping.wake_time.ToNanoseconds()
        elif kind == "step_completed" and event.step_completed.step_id in due:
            assert event.event_time.ToNanoseconds() >= due[event.step_completed.step_id], (
                "a sleep ended early"
            )
    provided = [
        (e.step_input_provided.step_id, e.step_input_provided.turn)
        for e in events
        if e.HasField("step_input_provided")
    ]
    assert len(provided) == len(set(provided)), "a question was answered twice"


async def check_children(engine: Engine, run: run_pb2.Run, events: list[run_pb2.RunEvent]) -> None:
    """Each sub-workflow step (or item) started one child, which succeeded."""
    started: dict[tuple[str, int | None], set[str]] = {}
    for event in events:
        if event.HasField("step_child_started"):
            child = event.step_child_started
            started.setdefault((child.step_id, child.item if child.HasField("item") else None), set()).add(
                child.child_run_id
            )
    assert all(len(ids) == 1 for ids in started.values()), started
    for step in run.steps:
        for child_id in step.child_run_ids:
            ended = await engine.get_run(child_id)
            assert ended.state == run_pb2.RUN_STATE_SUCCEEDED and ended.parent.run_id == run.run_id


def stores_for(
    kind: str, store_dir: Path, database: str, durable_writes: int
) -> tuple[CrashingStore | CrashingPostgresStore, RunStore]:
    if kind == "sqlite":
        path = store_dir / f"kinds-{next(_files)}.db"
        return CrashingStore(path, durable_writes), open_store(path)
    doomed = CrashingPostgresStore(database, durable_writes, replica="doomed", lease_seconds=0.3)
    return doomed, open_store(database, lease_seconds=0.3)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_mixed_step_kinds_survive_a_crash_at_any_commit(
    kind: str, agent_address: str, store_dir: Path, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue("postgres_database") if kind == "postgresql" else ""

    async def check(specs: list[Spec], durable_writes: int, delay: float) -> None:
        flow, outcomes = build(specs)
        case_id, script = new_case(outcomes)
        doomed_store, next_store = stores_for(kind, store_dir, database, durable_writes)
        async with running_engine(doomed_store, agent_address, WORKFLOWS) as doomed:
            run_id = await start(doomed, flow, {"case": case_id})
            async with answered(doomed, run_id, delay):
                ended = asyncio.create_task(finish(doomed, run_id))
                crashed = asyncio.create_task(doomed_store.crashed.wait())
                await asyncio.wait([ended, crashed], return_when=asyncio.FIRST_COMPLETED)
                for task in (ended, crashed):
                    task.cancel()
        before = len(script.calls)
        await settled(script.calls)
        async with running_engine(next_store, agent_address, WORKFLOWS) as resumed:
            durable = await history(resumed, run_id)
            async with answered(resumed, run_id, delay):
                events = await finish(resumed, run_id)
            run = await resumed.get_run(run_id)
            await settled(script.calls)
            assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
            assert all(step.state == run_pb2.STEP_STATE_SUCCEEDED for step in run.steps)
            check_log(events, run)
            check_waits(events)
            await check_children(resumed, run, events)
        assert events[: len(durable)] == durable
        done_before = decided(durable)
        parents_calls = [c for c in script.calls[before:] if c.key.startswith(run_id)]
        assert [turn_of(c) for c in parents_calls if turn_of(c) in done_before] == []

    await for_each_example(
        check,
        dags(),
        st.integers(1, 40),
        st.sampled_from([0.0, 0.01]),
        max_examples=25 if kind == "sqlite" else 10,
    )


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_a_budget_is_never_overspent_by_more_than_one_call(
    kind: str, agent_address: str, store_dir: Path, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue("postgres_database") if kind == "postgresql" else ""

    async def check(usages: list[int], budget: int, fan: bool, durable_writes: int) -> None:
        outcomes: dict[tuple[str, int | None, int], Outcome]
        if fan:
            steps = [
                {
                    "id": "each",
                    "agent": AGENT,
                    "skill": "act",
                    "for_each": f"${{{list(range(len(usages)))}}}",
                    "input": {"case": "${inputs.case}"},
                }
            ]
            outcomes = {("each", i, 1): Outcome(tokens=(u, 0)) for i, u in enumerate(usages)}
        else:
            steps = [
                {
                    "id": f"s{i}",
                    "agent": AGENT,
                    "skill": "act",
                    "input": {"case": "${inputs.case}"},
                    "dependencies": [f"s{i - 1}"] if i else [],
                }
                for i in range(len(usages))
            ]
            outcomes = {(f"s{i}", None, 1): Outcome(tokens=(u, 0)) for i, u in enumerate(usages)}
        flow = workflow(
            {"name": "spend", "inputs": [{"name": "case"}], "budget": {"tokens": budget}, "steps": steps}
        )
        case_id, script = new_case(outcomes)
        doomed_store, next_store = stores_for(kind, store_dir, database, durable_writes)
        async with running_engine(doomed_store, agent_address) as doomed:
            run_id = await start(doomed, flow, {"case": case_id})
            ended = asyncio.create_task(finish(doomed, run_id))
            crashed = asyncio.create_task(doomed_store.crashed.wait())
            await asyncio.wait([ended, crashed], return_when=asyncio.FIRST_COMPLETED)
            for task in (ended, crashed):
                task.cancel()
        await settled(script.calls)
        async with running_engine(next_store, agent_address) as resumed:
            await finish(resumed, run_id)
            run = await resumed.get_run(run_id)
        spent = run.usage.input_tokens + run.usage.output_tokens
        assert spent <= budget + max(usages)
        if run.state == run_pb2.RUN_STATE_FAILED:
            assert run.error.reason == "BUDGET_EXCEEDED" and spent >= budget
        else:
            assert run.state == run_pb2.RUN_STATE_SUCCEEDED and spent == sum(usages)

    await for_each_example(
        check,
        st.lists(st.integers(1, 50), min_size=1, max_size=8),
        st.integers(1, 200),
        st.booleans(),
        st.integers(1, 30),
        max_examples=30 if kind == "sqlite" else 12,
    )
