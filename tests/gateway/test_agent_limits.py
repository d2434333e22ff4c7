"""Agent limits through the engine, on SQLite: calls beyond an agent's concurrency wait in the
gateway, queued in order with a StepQueued event each; an agent out of capacity that says when
to come back (RetryInfo) is retried after that wait, outside the step's retry policy."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_asyncio

from agentmesh.v1 import run_pb2
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.store import open_store
from agentmesh_gateway.throttle import AgentLimits
from tests.support.engine import AGENT, Outcome, history, new_case, running_engine, start
from tests.support.mesh import workflow


@pytest_asyncio.fixture
async def engine(tmp_path: Path, agent_address: str) -> AsyncIterator[Engine]:
    store = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
    async with running_engine(store, agent_address, limits=AgentLimits(max_concurrency=2)) as running:
        yield running


async def ended(engine: Engine, run_id: str) -> run_pb2.Run:
    async with asyncio.timeout(30):
        while (run := await engine.get_run(run_id)).state in (
            run_pb2.RUN_STATE_RUNNING,
            run_pb2.RUN_STATE_PENDING,
        ):
            await asyncio.sleep(0.02)
    return run


async def test_calls_beyond_the_concurrency_limit_queue_in_the_gateway(engine: Engine) -> None:
    case, script = new_case({("each", i, 1): Outcome(delay=0.1) for i in range(6)})
    flow = workflow(
        {
            "name": "fan",
            "inputs": [{"name": "case"}],
            "steps": [
                {
                    "id": "each",
                    "agent": AGENT,
                    "skill": "act",
                    "for_each": "${[0,1,2,3,4,5]}",
                    "input": {"case": "${inputs.case}"},
                }
            ],
        }
    )
    run_id = await start(engine, flow, {"case": case})
    assert (await ended(engine, run_id)).state == run_pb2.RUN_STATE_SUCCEEDED
    spans = sorted((call.started, 1) for call in script.calls) + sorted(
        (call.ended, -1) for call in script.calls
    )
    # Ends sort before starts at the same instant: a slot freed and taken again is not an overlap.
    most = max(itertools.accumulate(delta for _, delta in sorted(spans, key=lambda s: (s[0], s[1]))))
    assert most <= 2
    queued = [e.step_queued for e in await history(engine, run_id) if e.HasField("step_queued")]
    assert len(queued) >= 4 and {(q.agent, q.limit) for q in queued} == {(AGENT, "max_concurrency")}


async def test_retry_info_sets_the_wait_and_does_not_spend_the_retry_policy(engine: Engine) -> None:
    case, script = new_case(
        {("one", None, 1): Outcome(retry_after=0.3), ("one", None, 2): Outcome(retry_after=0.2)}
    )
    flow = workflow(
        {
            "name": "busy",
            "inputs": [{"name": "case"}],
            "steps": [
                {
                    "id": "one",
                    "agent": AGENT,
                    "skill": "act",
                    "input": {"case": "${inputs.case}"},
                    "retry": {"max_attempts": 1},
                }
            ],
        }
    )
    run_id = await start(engine, flow, {"case": case})
    assert (await ended(engine, run_id)).state == run_pb2.RUN_STATE_SUCCEEDED
    retries = [e.step_retrying for e in await history(engine, run_id) if e.HasField("step_retrying")]
    assert [round(r.delay.ToTimedelta().total_seconds(), 3) for r in retries] == [0.3, 0.2]
    assert [call.attempt for call in script.calls] == [1, 2, 3]
    assert script.calls[1].started - script.calls[0].started >= 0.3 - 0.01
