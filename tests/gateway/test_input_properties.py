"""Property tests of steps whose agents ask for input, with answers at any moment and a crash at
any commit, on SQLite and on PostgreSQL.

Generated workflows (tests/support/dags.py) whose invocations ask one or two questions before
they answer. A person answers every question after a generated delay, from the start and again
after the gateway that executed the run died at a generated commit and another resumed it.
Whatever the timing: the run ends as the oracle says, each question is answered once and its
answer reaches the agent (in order, as the conversation), no call whose outcome (an answer, a
question, a failure) was recorded is made again, and the history replays to the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from hypothesis import strategies as st

from agentmesh.errors import AgentMeshError
from agentmesh.messages import Message, value_to_python
from agentmesh.v1 import run_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.store import RunStore, open_store
from tests.gateway.test_engine_properties import check_log, check_outcome, settled
from tests.support.dags import Case, cases, expect
from tests.support.engine import (
    Call,
    CrashingPostgresStore,
    CrashingStore,
    StoreCrashed,
    finish,
    new_case,
    running_engine,
    start,
)
from tests.support.properties import for_each_example

pytestmark = pytest.mark.slow

_files = itertools.count()


@st.composite
def asking_cases(draw: st.DrawFn) -> Case:
    """A generated case whose invocations' first attempts ask zero, one or two questions."""
    case = draw(cases(max_layers=3))
    steps = []
    for spec in case.steps:
        outcomes = {
            key: dataclasses.replace(outcome, asks=draw(st.sampled_from([0, 0, 1, 2])) if key[1] == 1 else 0)
            for key, outcome in spec.outcomes.items()
        }
        steps.append(dataclasses.replace(spec, outcomes=outcomes))
    return Case(tuple(steps))


async def answering(engine: Engine, run_id: str, delay: float, choice: Iterator[int]) -> None:
    """Answer each question the run waits on, `delay` after seeing it, until cancelled, each
    answer's choice the next of `choice`: one count for the whole example, before and after the
    crash, so that answers in conversation order are in increasing order."""
    while True:
        with contextlib.suppress(AgentMeshError, StoreCrashed, OSError):
            for request in [r for step in (await engine.get_run(run_id)).steps for r in step.pending_input]:
                await asyncio.sleep(delay)
                item = request.item if request.HasField("item") else None
                answer = Message.request({"choice": next(choice)}, sender="person").to_proto()
                await engine.provide_input(run_id, request.step_id, item, answer)
        await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def answered(engine: Engine, run_id: str, delay: float, choice: Iterator[int]) -> AsyncIterator[None]:
    task = asyncio.create_task(answering(engine, run_id, delay, choice))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def turn_of(call: Call) -> tuple[str, int | None, int, int]:
    """The call's step, item, attempt and turn (its key ends in ATTEMPT or ATTEMPT-TURN)."""
    last = call.key.rsplit("/", 1)[1]
    return (call.step, call.item, call.attempt, int(last.split("-")[1]) if "-" in last else 0)


def decided(events: list[run_pb2.RunEvent]) -> set[tuple[str, int | None, int, int]]:
    """The calls whose outcome the history holds: a question asked, an answer, a failure."""
    turns: dict[tuple[str, int | None], int] = {}
    found = set()
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "step_input_required":
            body = event.step_input_required.request
            found.add((body.step_id, body.item if body.HasField("item") else None, body.attempt, body.turn))
        elif kind == "step_input_provided":
            provided = event.step_input_provided
            item = provided.item if provided.HasField("item") else None
            turns[provided.step_id, item] = provided.turn + 1
        elif kind in ("step_completed", "step_retrying", "step_failed"):
            body = getattr(event, kind)
            item = body.item if body.HasField("item") else None
            found.add((body.step_id, item, body.attempt, turns.get((body.step_id, item), 0)))
    return found


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
async def test_answers_at_any_moment_and_a_crash_at_any_commit_end_the_run_as_the_oracle_says(
    kind: str, agent_address: str, store_dir: Path, request: pytest.FixtureRequest
) -> None:
    database = request.getfixturevalue("postgres_database") if kind == "postgresql" else ""

    def stores(durable_writes: int) -> tuple[CrashingStore | CrashingPostgresStore, RunStore]:
        if kind == "sqlite":
            path = store_dir / f"ask-{next(_files)}.db"
            return CrashingStore(path, durable_writes), open_store(path)
        doomed = CrashingPostgresStore(database, durable_writes, replica="doomed", lease_seconds=0.3)
        return doomed, open_store(database, lease_seconds=0.3)

    async def check(case: Case, durable_writes: int, delay: float) -> None:
        case_id, script = new_case(case.outcomes())
        doomed_store, next_store = stores(durable_writes)
        numbers = itertools.count(1)
        async with running_engine(doomed_store, agent_address) as doomed:
            run_id = await start(doomed, case.workflow(), case.inputs(case_id))
            async with answered(doomed, run_id, delay, numbers):
                ended = asyncio.create_task(finish(doomed, run_id))
                crashed = asyncio.create_task(doomed_store.crashed.wait())
                await asyncio.wait([ended, crashed], return_when=asyncio.FIRST_COMPLETED)
                for task in (ended, crashed):
                    task.cancel()
        before = len(script.calls)
        await settled(script.calls)
        async with running_engine(next_store, agent_address) as resumed:
            durable = await _history(resumed, run_id)
            async with answered(resumed, run_id, delay, numbers):
                events = await finish(resumed, run_id)
            snapshot = await resumed.get_run(run_id)
            await settled(script.calls)
        done_before = decided(durable)
        assert [turn_of(c) for c in script.calls[before:] if turn_of(c) in done_before] == [], (
            "a call whose outcome was recorded was made again"
        )
        assert events[: len(durable)] == durable
        check_log(events, snapshot)
        check_outcome(case, expect(case), snapshot, script.calls, once=False)
        # Every question asked was answered once, and the agent got the answers in order.
        provided = [e.step_input_provided for e in events if e.HasField("step_input_provided")]
        asked = [e.step_input_required.request for e in events if e.HasField("step_input_required")]
        if snapshot.state == run_pb2.RUN_STATE_SUCCEEDED:
            assert len(provided) == len(asked)
        keys = [(p.step_id, p.item if p.HasField("item") else None, p.turn) for p in provided]
        assert len(keys) == len(set(keys)), "a turn was answered twice"
        for step in snapshot.steps:
            if step.state == run_pb2.STEP_STATE_SUCCEEDED:
                outputs = value_to_python(step.output)
                for output in outputs if isinstance(outputs, list) else [outputs]:
                    choices = [answer["choice"] for answer in output["answers"]]
                    assert choices == sorted(choices)

    await for_each_example(
        check,
        asking_cases(),
        st.integers(1, 30),
        st.sampled_from([0.0, 0.001, 0.01]),
        max_examples=30 if kind == "sqlite" else 12,
    )


async def _history(engine: Engine, run_id: str) -> list[run_pb2.RunEvent]:
    events: list[run_pb2.RunEvent] = []
    while page := await engine.store.events_after(run_id, len(events), 500):
        events += [record.event() for record in page]
    return events
