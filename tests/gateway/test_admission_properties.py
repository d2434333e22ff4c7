"""Admission control as a property: whatever the bound and however starts arrive (bursts, repeats
of a request_id, runs ending in between), no more runs are in flight than the bound, a refused
start stores nothing, every accepted run completes once, and every place is given back."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import pytest
from hypothesis import strategies as st

from agentmesh.errors import ResourceExhausted
from agentmesh.v1 import run_pb2
from agentmesh_gateway.admission import Admission
from agentmesh_gateway.agents import AgentDirectory
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store.sqlite import SqliteRunStore
from tests.support.engine import AGENT, Outcome, finish, new_case
from tests.support.mesh import workflow
from tests.support.properties import for_each_example

pytestmark = pytest.mark.slow

_files = itertools.count()
ONE_STEP = workflow(
    {
        "name": "one",
        "steps": [{"id": "a", "agent": AGENT, "skill": "act", "input": {"case": "${inputs.case}"}}],
    }
)

# A start: its request_id (a small pool, so that repeats happen; None: no request_id), how long
# its step takes, and how long to wait before the next start (0: same burst).
starts = st.lists(
    st.tuples(st.one_of(st.none(), st.sampled_from("abcd")), st.sampled_from([0.0, 0.01, 0.05]),
              st.sampled_from([0.0, 0.0, 0.005, 0.03])),
    min_size=1,
    max_size=12,
)  # fmt: skip


async def test_runs_in_flight_never_pass_the_bound_and_nothing_refused_is_stored(
    agent_address: str, store_dir: Path
) -> None:
    async def check(bound: int, plan: list[tuple[str | None, float, float]]) -> None:
        admission = Admission(max_runs=bound)
        store = SqliteRunStore(store_dir / f"admission-{next(_files)}.db")
        engine = Engine(store, AgentDirectory({AGENT: [agent_address]}), {}, admission)
        await engine.start()
        try:
            accepted: dict[str, str] = {}  # run id → request id
            delays: list[float | None] = []
            peak = 0

            async def one(request_id: str | None, delay: float) -> None:
                nonlocal peak
                case, _ = new_case({("a", None, 1): Outcome(delay=delay)})
                request = RunRequest(
                    ONE_STEP, {"case": case}, run_pb2.RunContext(), request_id=request_id or ""
                )
                try:
                    run = await engine.start_run(request)
                except ResourceExhausted as exc:
                    delays.append(exc.retry_delay)
                    return
                finally:
                    peak = max(peak, admission.runs)
                accepted[run.run_id] = request_id or run.run_id

            burst: list[asyncio.Task[None]] = []
            for request_id, delay, gap in plan:
                burst.append(asyncio.create_task(one(request_id, delay)))
                if gap:
                    await asyncio.sleep(gap)
            await asyncio.gather(*burst)
            assert peak <= bound
            assert all(delay is not None and delay > 0 for delay in delays)
            # The same request_id never made two runs; a refused one made none.
            by_request = {request for request in accepted.values()}
            assert len(by_request) == len(accepted)
            for run_id in accepted:
                events = await finish(engine, run_id)
                assert events[-1].HasField("run_completed")
            stored = await store.list_runs(state=0, page_size=1000, page_token="", max_bytes=1 << 30)
            assert {run.run_id for run in stored.runs} == set(accepted)
            async with asyncio.timeout(5):
                while admission.runs:  # places are given back as each run's task ends
                    await asyncio.sleep(0.001)
        finally:
            await engine.stop()

    await for_each_example(check, st.integers(1, 4), starts)


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Admission(max_runs=0)
