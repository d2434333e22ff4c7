"""Property tests of wide for_each steps: hundreds of items, some failing, a crash at any commit.

A fan-out wider than the items the engine keeps in flight (MAX_ITEMS_IN_FLIGHT) goes out in a
bounded stream: however the items' outcomes and the crash fall, the agent never has more of them
at once than the bound, no item attempt whose outcome was recorded runs again after the resume,
and the step's output is every item's output in item order, or the step fails on the first item
that failed for good.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import strategies as st

from agentmesh.messages import value_to_python
from agentmesh.v1 import run_pb2
from agentmesh_gateway.fan_out import MAX_ITEMS_IN_FLIGHT
from agentmesh_gateway.store.sqlite import SqliteRunStore
from tests.support.engine import AGENT, Call, CrashingStore, Outcome, finish, new_case, running_engine, start
from tests.support.mesh import workflow
from tests.support.properties import for_each_example

pytestmark = pytest.mark.slow

STEP = "each"
_files = itertools.count()


@dataclass(frozen=True)
class Wide:
    items: int
    #: Items whose first attempt fails and is retried.
    flaky: frozenset[int]
    #: An item that fails for good (the step, and the run, fail), if any.
    doomed: int | None
    #: Per item, how long its calls take (ms), cycled.
    delays: tuple[int, ...]

    def outcomes(self) -> dict[tuple[str, int | None, int], Outcome]:
        found: dict[tuple[str, int | None, int], Outcome] = {}
        for item in range(self.items):
            delay = self.delays[item % len(self.delays)] / 1000
            found[STEP, item, 1] = Outcome(delay, "UNAVAILABLE" if item in self.flaky else "")
            found[STEP, item, 2] = Outcome(delay)
        if self.doomed is not None:
            found[STEP, self.doomed, 1] = Outcome(0.0, "FAILED_PRECONDITION")
        return found


@st.composite
def wide(draw: st.DrawFn) -> Wide:
    items = draw(st.integers(MAX_ITEMS_IN_FLIGHT - 20, 3 * MAX_ITEMS_IN_FLIGHT))
    flaky = draw(st.frozensets(st.integers(0, items - 1), max_size=8))
    doomed = draw(st.none() | st.integers(0, items - 1))
    return Wide(items, flaky, doomed, tuple(draw(st.lists(st.integers(0, 40), min_size=1, max_size=5))))


FLOW = workflow(
    {
        "name": "wide",
        "steps": [
            {
                "id": STEP,
                "agent": AGENT,
                "skill": "act",
                "input": {"case": "${inputs.case}"},
                "for_each": "${inputs.items}",
                "retry": {"max_attempts": 2, "initial_delay": "0.001s", "jitter": 0},
            }
        ],
    }
)


def most_at_once(calls: list[Call]) -> int:
    """The most calls the agent had in flight at one moment."""
    edges = sorted([(c.started, 1) for c in calls] + [(c.ended or c.started, -1) for c in calls])
    return max(itertools.accumulate(delta for _, delta in edges), default=0)


async def settled(calls: list[Call]) -> None:
    async with asyncio.timeout(20):
        while any(call.ended is None for call in calls):
            await asyncio.sleep(0.005)


async def test_a_wide_fan_out_stays_bounded_and_survives_a_crash_at_any_commit(
    agent_address: str, store_dir: Path
) -> None:
    async def check(case: Wide, durable_writes: int) -> None:
        path = store_dir / f"wide-{next(_files)}.db"
        case_id, script = new_case(case.outcomes())
        inputs = {"case": case_id, "items": list(range(case.items))}
        store = CrashingStore(path, durable_writes)
        async with running_engine(store, agent_address) as doomed:
            run_id = await start(doomed, FLOW, inputs)
            ended = asyncio.create_task(finish(doomed, run_id))
            crashed = asyncio.create_task(store.crashed.wait())
            await asyncio.wait([ended, crashed], return_when=asyncio.FIRST_COMPLETED)
            for task in (ended, crashed):
                task.cancel()
        await settled(script.calls)
        before = list(script.calls)
        assert most_at_once(before) <= MAX_ITEMS_IN_FLIGHT

        plain = SqliteRunStore(path)
        await plain.open()
        durable = [record.event() for record in await plain.events_after(run_id, 0, 100_000)]
        await plain.close()
        decided = {
            (body.item, body.attempt)
            for event in durable
            if (kind := event.WhichOneof("event")) in ("step_completed", "step_retrying", "step_failed")
            and (body := getattr(event, kind)).HasField("item")
        }

        async with running_engine(SqliteRunStore(path), agent_address) as resumed:
            events = await finish(resumed, run_id)
            run = await resumed.get_run(run_id)
        after = script.calls[len(before) :]
        await settled(after)
        assert most_at_once(after) <= MAX_ITEMS_IN_FLIGHT
        assert [c for c in after if (c.item, c.attempt) in decided] == [], "a decided attempt ran again"
        assert [e.sequence for e in events] == list(range(1, len(events) + 1))
        if case.doomed is not None:
            assert run.state == run_pb2.RUN_STATE_FAILED
            assert run.error.reason == "SCRIPTED"
            failed = next(e.step_failed for e in events if e.HasField("step_failed"))
            assert failed.item == case.doomed or failed.error.code == "FAILED_PRECONDITION"
            return
        assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
        tokens = [item["token"] for item in value_to_python(run.steps[0].output)]
        assert tokens == [f"{STEP}/{i}/{2 if i in case.flaky else 1}" for i in range(case.items)]

    await for_each_example(check, wide(), st.integers(1, 60), max_examples=12)
