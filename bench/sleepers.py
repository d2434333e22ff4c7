"""p13: 10,000 runs asleep at once (a timer step each), on an engine in this process with its
SQLite store, so that what they hold is countable: the asyncio tasks and the resident memory
they add once parked, and how late each wakes after its due time.

Each run's single step is `until: ${inputs.at}`, its due time spread evenly over SPREAD_SECONDS
after every run has been started and parked (a run sleeping longer than the engine holds one is
parked: no task, its wake time in the store). Lateness is the sleep step's completion (its event
time) minus the wake time its StepSleeping event recorded.

    python -m bench.sleepers        # prints the figures
"""

from __future__ import annotations

import asyncio
import json
import resource
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from agentmesh.v1 import run_pb2
from agentmesh.workflows import parse_workflow
from agentmesh_gateway.agents import AgentDirectory
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.execution import HOLD_SECONDS
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store.sqlite import SqliteRunStore
from bench.capacity import percentile

RUNS = 10_000
SPREAD_SECONDS = 10.0
STARTERS = 64
NAP = parse_workflow(
    json.dumps(
        {
            "name": "nap",
            "inputs": [{"name": "at", "required": True}],
            "steps": [{"id": "nap", "until": "${inputs.at}"}],
        }
    )
)


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def sleepers(workdir: Path, runs: int = RUNS) -> dict[str, float]:
    # A store of its own each pass: the run counts it waits on are of its runs alone.
    store = Path(tempfile.mkdtemp(prefix="sleepers-", dir=workdir)) / "sleepers.db"
    engine = Engine(SqliteRunStore(store), AgentDirectory({}), {})
    await engine.start()
    try:
        return await _measure(engine, runs)
    finally:
        await engine.stop()


async def _measure(engine: Engine, runs: int) -> dict[str, float]:
    tasks_before, rss_before = len(asyncio.all_tasks()), rss_kb()
    # Due after every run is started (about 1,000 a second here) and parked, with room to spare.
    first_due = time.time() + runs / 500 + HOLD_SECONDS + 5
    pending = iter(range(runs))
    run_ids: list[str] = []

    async def starter() -> None:
        for index in pending:
            due = datetime.fromtimestamp(first_due + index * SPREAD_SECONDS / runs, UTC)
            request = RunRequest(NAP, {"at": due.isoformat()}, run_pb2.RunContext())
            run_ids.append((await engine.start_run(request)).run_id)

    started = time.monotonic()
    await asyncio.gather(*(starter() for _ in range(STARTERS)))
    start_seconds = time.monotonic() - started
    await asyncio.sleep(HOLD_SECONDS + 1)  # every run parked by now
    if time.time() >= first_due:
        raise RuntimeError("the runs were due before they were all parked: start fewer")
    parked_tasks, parked_rss = len(asyncio.all_tasks()) - tasks_before, rss_kb() - rss_before
    counts = await engine.store.run_counts()
    asleep = counts.get(run_pb2.RUN_STATE_SLEEPING, 0)
    async with asyncio.timeout(SPREAD_SECONDS + 120):
        while (await engine.store.run_counts()).get(run_pb2.RUN_STATE_SUCCEEDED, 0) < runs:  # noqa: ASYNC110 - the store is what says
            await asyncio.sleep(0.5)
    late = [await _lateness(engine, run_id) for run_id in run_ids]
    return {
        "p13_runs": float(runs),
        "p13_start_s": start_seconds,
        "p13_asleep_runs": float(asleep),
        "p13_tasks_per_sleeping_run": parked_tasks / runs,
        "p13_rss_kb_per_sleeping_run": parked_rss / runs,
        "p13_wake_late_p50_ms": percentile(late, 0.50),
        "p13_wake_late_p99_ms": percentile(late, 0.99),
        "p13_wake_late_max_ms": max(late),
    }


async def _lateness(engine: Engine, run_id: str) -> float:
    """Milliseconds from the sleep's wake time to its step's completion."""
    wake = done = None
    events = [record.event() for record in await engine.store.events_after(run_id, 0, 100)]
    for event in events:
        if event.HasField("step_sleeping"):
            wake = event.step_sleeping.wake_time.ToNanoseconds()
        elif event.HasField("step_completed"):
            done = event.event_time.ToNanoseconds()
    if wake is None or done is None:
        kinds = ", ".join(str(event.WhichOneof("event")) for event in events)
        raise RuntimeError(f"run {run_id} has no sleep and wake in its history: {kinds}")
    return (done - wake) / 1e6


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="agentmesh-sleepers-") as workdir:
        figures = asyncio.run(sleepers(Path(workdir)))
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
