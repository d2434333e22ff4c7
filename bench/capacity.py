"""p4 (runs in flight at once, gateway memory) and p5 (event delivery to 1,000 watchers)."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from agentmesh.client import Client, Run, RunState
from agentmesh.v1 import workflow_pb2
from bench.workloads import workflow

START_CONCURRENCY = 256
WATCH_CHANNELS = 10


def reset_peak_rss(pid: int) -> None:
    """Restart the kernel's peak-RSS counter (VmHWM) of `pid`, so that it covers one phase."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for pid {pid}")


def most_at_once(runs: list[Run]) -> int:
    """The largest number of runs whose [start, end] intervals overlap at one instant."""
    edges = [(r.start_time, 1) for r in runs if r.start_time is not None]
    edges += [(r.end_time, -1) for r in runs if r.end_time is not None]
    edges.sort(key=lambda edge: (edge[0], edge[1]))  # at a tie an end comes before a start
    now = peak = 0
    for _, change in edges:
        now += change
        peak = max(peak, now)
    return peak


async def inflight(
    client: Client, gateway_pid: int, runs: int, sleep_ms: int, starters: Sequence[Client] = ()
) -> tuple[int, float]:
    """Start `runs` one-step runs whose step sleeps `sleep_ms`; wait for all, check all succeeded.

    Returns the most runs in flight at one instant (from the runs' own start and end
    times) and the gateway's peak RSS meanwhile. `starters`: replicas to start the runs on,
    round-robin (default: `client`'s gateway alone).
    """
    flow = workflow(
        {
            "name": "inflight",
            "steps": [{"id": "wait", "agent": "bench", "skill": "sleep", "input": {"ms": sleep_ms}}],
        }
    )
    reset_peak_rss(gateway_pid)
    gate = asyncio.Semaphore(START_CONCURRENCY)
    started: set[str] = set()
    spread = itertools.cycle(starters or [client])

    async def start() -> None:
        async with gate:
            started.add((await next(spread).start(flow)).run_id)

    await asyncio.gather(*(start() for _ in range(runs)))
    # Polled rather than watched: 10,000 WatchRun streams would load the gateway being measured.
    while await anext(client.list_runs(state=RunState.RUNNING, page_size=1), None):  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    rss = peak_rss_mb(gateway_pid)
    ours: list[Run] = []
    async for run in client.list_runs(page_size=500):  # newest first: ours are the latest runs
        if run.run_id in started:
            ours.append(run)
        if len(ours) == runs:
            break
    failed = [run.run_id for run in ours if run.state != RunState.SUCCEEDED]
    if len(ours) != runs or failed:
        raise RuntimeError(f"p4: {len(ours)} of {runs} runs found, {len(failed)} did not succeed")
    return most_at_once(ours), rss


def watched_chain(settle_ms: int, steps: int, step_ms: int) -> workflow_pb2.Workflow:
    """A first step long enough for every watcher to attach, then `steps` chained sleeps."""
    chain: list[dict[str, Any]] = [
        {"id": "settle", "agent": "bench", "skill": "sleep", "input": {"ms": settle_ms}}
    ]
    chain += [
        {
            "id": f"s{i}",
            "agent": "bench",
            "skill": "sleep",
            "input": {"ms": step_ms},
            "dependencies": ["settle" if i == 0 else f"s{i - 1}"],
        }
        for i in range(steps)
    ]
    return workflow({"name": "watched", "steps": chain})


async def delivery(target: str, client: Client, subscribers: int, flow: workflow_pb2.Workflow) -> list[float]:
    """Milliseconds from each event's recording to its arrival, for every watcher and event.

    Only events recorded after the last watcher received its first event count: by then
    every watcher is subscribed, so each of those events reaches all of them live.
    """
    run_id = (await client.start(flow)).run_id
    arrivals: list[list[tuple[int, int]]] = [[] for _ in range(subscribers)]
    clients = [await Client.connect(target) for _ in range(WATCH_CHANNELS)]

    async def watch(index: int) -> None:
        mine = arrivals[index]
        async for event in clients[index % WATCH_CHANNELS].handle(run_id).events():
            mine.append((event.proto.event_time.ToNanoseconds(), time.time_ns()))

    try:
        await asyncio.gather(*(watch(i) for i in range(subscribers)))
    finally:
        await asyncio.gather(*(watcher.close() for watcher in clients))
    attached = max(seen[0][1] for seen in arrivals)
    latencies = [
        (received - recorded) / 1e6 for seen in arrivals for recorded, received in seen if recorded > attached
    ]
    if not latencies:
        raise RuntimeError("p5: no event was recorded after every watcher attached; lengthen the settle step")
    return latencies


async def raw_delivery(
    target: str, method: str, subscribers: int, ticks: int, interval_ms: int
) -> list[float]:
    """p5's floor: milliseconds from send to arrival of ticks broadcast by a raw server to every stream."""
    start = time.time_ns() + 3_000_000_000  # time for every stream to open
    request = f"{ticks},{interval_ms},{start}".encode()
    channels = [grpc.aio.insecure_channel(target) for _ in range(WATCH_CHANNELS)]
    latencies: list[float] = []

    async def follow(index: int) -> None:
        call: Any = channels[index % WATCH_CHANNELS].unary_stream(method)
        async for sent in call(request):
            latencies.append((time.time_ns() - int(sent)) / 1e6)

    try:
        await asyncio.gather(*(follow(i) for i in range(subscribers)))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
