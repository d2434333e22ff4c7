"""What a run holds in memory, counted with tracemalloc on an engine in this process (SQLite store):
Python objects and resident memory added per run, and the code that allocated the most.

    python -m bench.memory parked      # runs asleep on a timer step, parked (p13's)
    python -m bench.memory inflight    # runs whose step calls the bench agent, in flight (p4's)

Runs are started one after another, so that what is counted is what each run keeps, not what
concurrent starts used at their peak (which the allocator keeps as resident memory: p13's RSS
figure is 0.5 to 19 KB a run depending on how far its 20 starters overlap).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from agentmesh.health import wait_serving
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_cli.process import ServerProcess
from agentmesh_gateway.agents import AgentDirectory
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store.sqlite import SqliteRunStore
from bench.sleepers import NAP, rss_kb
from bench.workloads import chain

SETTLE_SECONDS = 4.0


@asynccontextmanager
async def bench_agent() -> AsyncIterator[str]:
    """The bench agent in its own process; its address."""
    agent = ServerProcess([sys.executable, "-m", "bench.bench_agent", "--host", "127.0.0.1", "--port", "0"])
    port = await agent.start()
    try:
        await wait_serving(f"127.0.0.1:{port}")
        yield f"127.0.0.1:{port}"
    finally:
        await agent.stop()


async def held(engine: Engine, request: RunRequest, runs: int, top: int = 8) -> None:
    """Start `runs` runs of `request` one after another, let them settle, and print what they hold."""
    gc.collect()
    tracemalloc.start(8)
    before, rss_before = tracemalloc.take_snapshot(), rss_kb()
    for _ in range(runs):
        await engine.start_run(request)
    await asyncio.sleep(SETTLE_SECONDS)
    gc.collect()
    after, rss_after = tracemalloc.take_snapshot(), rss_kb()
    by_file = after.compare_to(before, "filename")
    python = sum(stat.size_diff for stat in by_file)
    rss = (rss_after - rss_before) / runs
    print(f"{runs} runs: {python / runs / 1024:.2f} KB of Python objects and {rss:.1f} KB RSS each")
    for stat in by_file[:top]:
        print(f"  {stat.size_diff / runs:8.0f} B/run  {stat.traceback[0].filename}")


async def parked(workdir: Path, runs: int) -> None:
    engine = Engine(SqliteRunStore(workdir / "parked.db"), AgentDirectory({}), {})
    await engine.start()
    try:
        due = datetime.fromtimestamp(time.time() + 3600, UTC).isoformat()
        await held(engine, RunRequest(NAP, {"at": due}, run_pb2.RunContext()), runs)
    finally:
        await engine.stop()


async def inflight(workdir: Path, runs: int) -> None:
    async with bench_agent() as address:
        engine = Engine(SqliteRunStore(workdir / "inflight.db"), AgentDirectory({"bench": [address]}), {})
        await engine.start()
        try:
            flow: workflow_pb2.Workflow = chain(1, "sleep", {"ms": 60_000})
            await held(engine, RunRequest(flow, {}, run_pb2.RunContext()), runs)
        finally:
            await engine.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("kind", choices=["parked", "inflight"])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    measure = parked if args.kind == "parked" else inflight
    with tempfile.TemporaryDirectory(prefix="agentmesh-memory-") as workdir:
        asyncio.run(measure(Path(workdir), args.runs))


if __name__ == "__main__":
    main()
