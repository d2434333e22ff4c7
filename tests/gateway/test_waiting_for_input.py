"""A step's agent asks for input: the run waits, durably and holding nothing, until an answer comes.

The engine in this test's loop, on SQLite and on PostgreSQL, against the scripted agent over
real gRPC. The agent asks its question(s) (`Outcome.asks`), and sees the answers it was sent
again, as the conversation, when it is invoked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentmesh.errors import FailedPrecondition, InvalidInput, NotFound
from agentmesh.messages import Message, value_to_python
from agentmesh.v1 import message_pb2, run_pb2, workflow_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.store import RunStore, open_store
from tests.support.engine import AGENT, Outcome, history, new_case, running_engine, start
from tests.support.mesh import workflow


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


def flow(for_each: str = "") -> workflow_pb2.Workflow:
    step: dict[str, object] = {
        "id": "ask",
        "agent": AGENT,
        "skill": "act",
        "input": {"case": "${inputs.case}"},
    }
    if for_each:
        step["for_each"] = for_each
    after = {"id": "after", "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}}
    return workflow({"name": "asking", "steps": [step, {**after, "dependencies": ["ask"]}]})


def answer(choice: object) -> message_pb2.AgentMessage:
    return Message.request({"choice": choice}, sender="person").to_proto()


async def until(engine: Engine, run_id: str, state: int) -> run_pb2.Run:
    async with asyncio.timeout(20):
        while (run := await engine.get_run(run_id)).state != state:
            await asyncio.sleep(0.02)
    return run


async def test_a_question_parks_the_run_and_the_answer_goes_back_to_the_agent(engine: Engine) -> None:
    case, script = new_case({("ask", None, 1): Outcome(asks=2)})
    run_id = await start(engine, flow(), {"case": case})
    waiting = await until(engine, run_id, run_pb2.RUN_STATE_WAITING_FOR_INPUT)
    [request] = waiting.steps[0].pending_input
    assert (waiting.steps[0].state, request.turn) == (run_pb2.STEP_STATE_WAITING_FOR_INPUT, 0)
    assert Message.from_proto(request.question).text == "ask/- question 1?"
    assert value_to_python(request.answer_schema.fields["required"]) == ["choice"]

    with pytest.raises(InvalidInput) as bad:
        await engine.provide_input(run_id, "ask", None, answer(-3))
    assert [v.field for v in bad.value.violations] == ["answer.choice"]
    with pytest.raises(FailedPrecondition, match="not waiting"):
        await engine.provide_input(run_id, "after", None, answer(1))
    with pytest.raises(NotFound):
        await engine.provide_input(run_id, "ask", None, answer(1), owner="somebody else")

    await engine.provide_input(run_id, "ask", None, answer(1), principal="alice")
    again = await until(engine, run_id, run_pb2.RUN_STATE_WAITING_FOR_INPUT)
    if again.steps[0].pending_input[0].turn == 0:  # the first answer not recorded yet
        again = await _next_question(engine, run_id)
    assert again.steps[0].pending_input[0].turn == 1
    # Two people answer the second question at once: one answer is taken, the other refused.
    both = await asyncio.gather(
        engine.provide_input(run_id, "ask", None, answer(2)),
        engine.provide_input(run_id, "ask", None, answer(3)),
        return_exceptions=True,
    )
    refused = [r for r in both if isinstance(r, BaseException)]
    assert len(refused) == 1 and isinstance(refused[0], FailedPrecondition), both
    assert refused[0].reason in ("ALREADY_ANSWERED", "NOT_WAITING")
    done = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)

    assert value_to_python(done.steps[0].output)["answers"] in (
        [{"choice": 1}, {"choice": 2}],
        [{"choice": 1}, {"choice": 3}],
    )
    calls = [c for c in script.calls if c.step == "ask"]
    assert [c.key.rsplit("/", 1)[1] for c in calls] == ["1", "1-1", "1-2"]  # a key per turn
    events = await history(engine, run_id)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds.count("step_input_required") == 2 and kinds.count("run_waiting") == 2
    provided = [e.step_input_provided for e in events if e.HasField("step_input_provided")]
    assert [(p.turn, p.principal) for p in provided] == [(0, "alice"), (1, "")]


async def _next_question(engine: Engine, run_id: str) -> run_pb2.Run:
    async with asyncio.timeout(20):
        while True:
            run = await engine.get_run(run_id)
            if run.steps[0].pending_input and run.steps[0].pending_input[0].turn == 1:
                return run
            await asyncio.sleep(0.02)


async def test_a_waiting_run_survives_a_restart_without_being_resumed(
    location: str, agent_address: str
) -> None:
    case, script = new_case({("ask", None, 1): Outcome(asks=1)})
    async with running_engine(store_at(location), agent_address) as first:
        run_id = await start(first, flow(), {"case": case})
        await until(first, run_id, run_pb2.RUN_STATE_WAITING_FOR_INPUT)
    async with running_engine(store_at(location), agent_address) as second:
        await asyncio.sleep(0.5)  # a start, and a lease round, in which nothing may take it up
        assert (await second.get_run(run_id)).state == run_pb2.RUN_STATE_WAITING_FOR_INPUT
        assert "run_resumed" not in [e.WhichOneof("event") for e in await history(second, run_id)]
        await second.provide_input(run_id, "ask", None, answer(7))
        done = await until(second, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    assert value_to_python(done.steps[0].output)["answers"] == [{"choice": 7}]
    assert len([c for c in script.calls if c.step == "ask"]) == 2


async def test_a_waiting_run_can_be_cancelled(engine: Engine) -> None:
    case, _ = new_case({("ask", None, 1): Outcome(asks=1)})
    run_id = await start(engine, flow(), {"case": case})
    await until(engine, run_id, run_pb2.RUN_STATE_WAITING_FOR_INPUT)
    cancelled = await engine.cancel_run(run_id, "nobody answered")
    assert cancelled.state == run_pb2.RUN_STATE_CANCELLED
    assert [s.pending_input for s in cancelled.steps] == [[], []]
    with pytest.raises(FailedPrecondition):
        await engine.provide_input(run_id, "ask", None, answer(1))


async def test_one_item_of_a_fan_out_waits_while_the_others_finish(engine: Engine) -> None:
    case, script = new_case({("ask", 1, 1): Outcome(asks=1)})
    run_id = await start(engine, flow(for_each="${[0, 1, 2]}"), {"case": case})
    waiting = await until(engine, run_id, run_pb2.RUN_STATE_WAITING_FOR_INPUT)
    assert waiting.steps[0].items_done == 2
    assert [r.item for r in waiting.steps[0].pending_input] == [1]
    await engine.provide_input(run_id, "ask", 1, answer(5))
    done = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    outputs = value_to_python(done.steps[0].output)
    assert [o["answers"] for o in outputs] == [[], [{"choice": 5}], []]
    assert len([c for c in script.calls if c.step == "after"]) == 1


async def test_an_answer_given_as_soon_as_the_question_is_seen_is_taken(engine: Engine) -> None:
    """A caller that answers on seeing StepInputRequired (an A2A client does, on INPUT_REQUIRED)
    while another step still runs, so the run does not yet wait as a whole: the question is
    in the run as read at that moment, and the answer is taken."""
    case, script = new_case({("ask", None, 1): Outcome(asks=1), ("slow", None, 1): Outcome(delay=1.0)})
    steps = [
        {"id": sid, "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}}
        for sid in ("ask", "slow")
    ]
    run_id = await start(engine, workflow({"name": "asking-beside", "steps": steps}), {"case": case})
    async with asyncio.timeout(20):
        async for record in engine.watch(run_id, 0):
            if record.event().HasField("step_input_required"):
                break
    run = await engine.provide_input(run_id, "ask", None, answer(7))
    assert run.state != run_pb2.RUN_STATE_FAILED
    ended = await until(engine, run_id, run_pb2.RUN_STATE_SUCCEEDED)
    assert [step.state for step in ended.steps] == [run_pb2.STEP_STATE_SUCCEEDED] * 2
    assert [call.answers for call in script.calls if call.step == "ask"][-1][0]["choice"] == 7
