"""What limits each figure: `python -m bench.limits [step|runs|watchers|metrics] [SECONDS]`.

Reads each process's CPU time from /proc/PID/stat before and after a workload, so that
the "where the time goes" figures in BENCHMARKS.md can be reproduced:

- step: back-to-back 50-step no-op chains (p1); CPU per step by process, and the step's
  timeline from its own events (agent call, completion → next start, recorded → client).
- runs: 10,000 one-step runs whose step sleeps 5 s, started by 256 concurrent clients (p4);
  CPU per run by process.
- watchers: 1,000 WatchRun subscribers on one run (p5); gateway CPU per delivered event.
- metrics: GetMetrics' work over 200,000 counted calls, and the longest the event loop stalls.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from agentmesh.client import Client, Event, StepCompleted, StepStarted
from agentmesh_gateway.metrics import collect as collect_metrics
from agentmesh_gateway.store.base import Batch, CallRecord
from agentmesh_gateway.store.sqlite import SqliteRunStore
from bench.capacity import delivery, inflight, percentile, watched_chain
from bench.mesh import BenchMesh, bench_mesh
from bench.workloads import chain, run_to_end

STEPS = 50


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds used by the gateway, the agent and this process since it was made."""

    def __init__(self, mesh: BenchMesh) -> None:
        self._pids = {"gateway": mesh.gateway.pid, "agent": mesh.agent.pid}
        self._start = self._now()

    def _now(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self._pids.items()} | {"client": time.process_time()}

    def report(self, units: int, unit: str) -> None:
        for name, value in self._now().items():
            print(f"{name:<8} {(value - self._start[name]) / units * 1000:7.3f} ms CPU per {unit}")


async def step(mesh: BenchMesh, client: Client, seconds: float) -> None:
    await run_to_end(client, chain(5))  # warm up
    meter = CpuMeter(mesh)
    calls: list[float] = []
    gaps: list[float] = []
    delivered: list[float] = []
    started, steps = time.perf_counter(), 0
    while time.perf_counter() - started < seconds:
        events: list[tuple[Event, int]] = []
        async for event in client.stream(chain(STEPS)):
            events.append((event, time.time_ns()))
        steps += STEPS
        begun: dict[str, int] = {}
        completed = 0
        for event, received in events:
            at = event.proto.event_time.ToNanoseconds()
            delivered.append((received - at) / 1e6)
            if isinstance(event, StepStarted):
                begun[event.step_id] = at
                if completed:
                    gaps.append((at - completed) / 1e6)
            elif isinstance(event, StepCompleted):
                calls.append((at - begun[event.step_id]) / 1e6)
                completed = at
    wall = time.perf_counter() - started
    meter.report(steps, "step")
    print(f"wall     {wall / steps * 1000:7.3f} ms per step ({steps} steps)")
    print(f"median   step started → completed (the agent call) {statistics.median(calls):.3f} ms")
    print(f"median   step completed → next step started {statistics.median(gaps):.3f} ms")
    print(f"median   event recorded → received by the client {statistics.median(delivered):.3f} ms")


async def runs(mesh: BenchMesh, client: Client, count: int) -> None:
    meter = CpuMeter(mesh)
    started = time.perf_counter()
    most, rss = await inflight(client, mesh.gateway.pid, count, sleep_ms=5000)
    wall = time.perf_counter() - started
    meter.report(count, "run")
    print(f"wall     {wall:.1f} s for {count} runs; most in flight at once {most}")
    print(f"gateway peak RSS {rss:.0f} MB")


async def watchers(mesh: BenchMesh, client: Client, count: int) -> None:
    meter = CpuMeter(mesh)
    latencies = await delivery(
        mesh.target, client, count, watched_chain(settle_ms=3000, steps=10, step_ms=200)
    )
    # Every watcher receives every event; only those after all had attached are timed.
    received = len(latencies)
    meter.report(received, "timed delivery (upper bound: attach and replay are included)")
    print(f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms")


async def metrics_stall(store_path: Path, calls: int) -> None:
    """GetMetrics' work over `calls` counted calls: its time, and the longest the loop stalled."""
    store = SqliteRunStore(store_path)
    await store.open()
    # Seven agents, one call in twenty failing, latencies spread over 0-100 ms.
    records = [
        CallRecord("bench", f"agent-{i % 7}", i % 20 != 0, (i * 7919) % 10_000 / 100) for i in range(calls)
    ]
    for start in range(0, calls, 10_000):
        await store.write(Batch(calls=records[start : start + 10_000]))
    longest, done = 0.0, asyncio.Event()

    async def tick() -> None:
        nonlocal longest
        while not done.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            longest = max(longest, time.perf_counter() - asked - 0.001)

    ticker = asyncio.create_task(tick())
    started = time.perf_counter()
    await collect_metrics(store)
    took = time.perf_counter() - started
    done.set()
    await ticker
    await store.close()
    print(
        f"metrics over {calls} calls: {took * 1000:.0f} ms; longest event-loop stall {longest * 1000:.1f} ms"
    )


async def main(kind: str, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="agentmesh-limits-") as workdir:
        if kind == "metrics":
            await metrics_stall(Path(workdir) / "metrics.db", 200_000)
            return
        async with (
            bench_mesh(Path(workdir) / "limits.db") as mesh,
            await Client.connect(mesh.target) as client,
        ):
            if kind == "step":
                await step(mesh, client, seconds)
            elif kind == "runs":
                await runs(mesh, client, 10_000)
            elif kind == "watchers":
                await watchers(mesh, client, 1000)
            else:
                raise SystemExit(f"unknown part {kind!r}: step, runs, watchers or metrics")


if __name__ == "__main__":
    asyncio.run(
        main(sys.argv[1] if len(sys.argv) > 1 else "step", float(sys.argv[2]) if len(sys.argv) > 2 else 8.0)
    )
