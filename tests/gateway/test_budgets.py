"""Usage and budgets, on SQLite and PostgreSQL: every reply's tokens add up by model, priced at
the gateway's prices, on the run and its steps; a budgeted run fails with BUDGET_EXCEEDED before
the call that would start past its limit, its calls one at a time, so it ends within one call's
usage of the limit.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.pricing import Price, Prices
from agentmesh_gateway.store import open_store
from tests.support.engine import AGENT, MODEL, Outcome, Script, new_case, running_engine, start
from tests.support.mesh import workflow

PRICES = Prices({MODEL: Price(input=1.0, output=3.0)})  # per million tokens


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest_asyncio.fixture
async def engine(location: str, agent_address: str) -> AsyncIterator[Engine]:
    async with running_engine(
        open_store(location, lease_seconds=1.5), agent_address, prices=PRICES
    ) as running:
        yield running


def act(step_id: str, **fields: object) -> dict[str, object]:
    return {"id": step_id, "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}, **fields}


def chain(n: int, **extra: object) -> workflow_pb2.Workflow:
    steps = [act(f"s{i}", **({"dependencies": [f"s{i - 1}"]} if i else {})) for i in range(n)]
    return workflow({"name": "chain", "inputs": [{"name": "case"}], "steps": steps, **extra})


async def ended(engine: Engine, run_id: str) -> run_pb2.Run:
    async with asyncio.timeout(30):
        while (run := await engine.get_run(run_id)).state not in (
            run_pb2.RUN_STATE_SUCCEEDED,
            run_pb2.RUN_STATE_FAILED,
            run_pb2.RUN_STATE_CANCELLED,
        ):
            await asyncio.sleep(0.02)
    return run


def overlapping(script: Script) -> bool:
    spans = sorted((call.started, call.ended or call.started) for call in script.calls)
    return any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans))


async def test_usage_adds_up_by_model_with_its_cost_on_the_run_and_its_steps(engine: Engine) -> None:
    case, _ = new_case(
        {("s0", None, 1): Outcome(tokens=(1000, 200)), ("s1", None, 1): Outcome(tokens=(500, 100))}
    )
    done = await ended(engine, await start(engine, chain(2), {"case": case}))
    assert done.state == run_pb2.RUN_STATE_SUCCEEDED
    usage = done.usage
    assert (usage.input_tokens, usage.output_tokens) == (1500, 300)
    assert usage.cost == pytest.approx((1500 * 1.0 + 300 * 3.0) / 1e6)
    [model] = usage.models
    assert (model.model, model.input_tokens, model.output_tokens) == (MODEL, 1500, 300)
    assert [(s.usage.input_tokens, s.usage.output_tokens) for s in done.steps] == [(1000, 200), (500, 100)]


async def test_a_token_budget_stops_the_run_before_the_call_past_it(engine: Engine) -> None:
    case, script = new_case({(f"s{i}", None, 1): Outcome(tokens=(30, 10)) for i in range(6)})
    run_id = await start(engine, chain(6, budget={"tokens": 100}), {"case": case})
    failed = await ended(engine, run_id)
    assert (failed.state, failed.error.reason, failed.error.step_id) == (
        run_pb2.RUN_STATE_FAILED,
        "BUDGET_EXCEEDED",
        "s3",
    )
    assert [call.step for call in script.calls] == ["s0", "s1", "s2"]  # 120 tokens after s2: s3 never called
    spent = failed.usage.input_tokens + failed.usage.output_tokens
    assert 100 <= spent <= 100 + 40


async def test_a_budgeted_fan_out_calls_one_at_a_time_and_continue_on_failure_does_not_save_it(
    engine: Engine,
) -> None:
    case, script = new_case({("each", i, 1): Outcome(tokens=(25, 5), delay=0.05) for i in range(10)})
    flow = workflow(
        {
            "name": "fan",
            "inputs": [{"name": "case"}],
            "budget": {"tokens": 100},
            "steps": [
                act("each", for_each="${[0,1,2,3,4,5,6,7,8,9]}", continue_on_failure=True),
                act("after", dependencies=["each"]),
            ],
        }
    )
    failed = await ended(engine, await start(engine, flow, {"case": case}))
    assert (failed.state, failed.error.reason) == (run_pb2.RUN_STATE_FAILED, "BUDGET_EXCEEDED")
    assert len(script.calls) == 4 and not overlapping(script)  # 0, 30, 60, 90 tokens before each
    assert "after" not in {call.step for call in script.calls}
    assert failed.usage.input_tokens + failed.usage.output_tokens == 120


async def test_a_cost_budget_counts_priced_models(engine: Engine) -> None:
    # Each call: 100,000 input tokens at 1.0 and 10,000 output at 3.0 per million = 0.13.
    case, script = new_case({(f"s{i}", None, 1): Outcome(tokens=(100_000, 10_000)) for i in range(5)})
    failed = await ended(engine, await start(engine, chain(5, budget={"cost": 0.25}), {"case": case}))
    assert failed.error.reason == "BUDGET_EXCEEDED" and len(script.calls) == 2
    assert failed.usage.cost == pytest.approx(0.26)


async def test_runs_without_a_budget_call_at_once(engine: Engine) -> None:
    case, script = new_case({("each", i, 1): Outcome(tokens=(25, 5), delay=0.2) for i in range(4)})
    flow = workflow(
        {"name": "fan", "inputs": [{"name": "case"}], "steps": [act("each", for_each="${[0,1,2,3]}")]}
    )
    done = await ended(engine, await start(engine, flow, {"case": case}))
    assert done.state == run_pb2.RUN_STATE_SUCCEEDED and overlapping(script)
    assert done.usage.input_tokens == 100
