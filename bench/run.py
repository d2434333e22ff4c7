"""`make bench`: the mesh against the raw gRPC floor, measured side by side in one run.

Starts what it measures on loopback (a raw echo server, the bench agent, a gateway with its
SQLite store), measures the floor in the same run so each figure is a ratio that survives a
noisy machine, repeats each measurement and reports the median and the spread. Writes
bench/results.json and the table in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from agentmesh.client import Client
from agentmesh.v1 import workflow_pb2
from bench import replicas, sse
from bench.capacity import delivery, inflight, percentile, raw_delivery, watched_chain
from bench.console import first_paint
from bench.echo_server import SLEEP, STREAM, TICKS, UNARY
from bench.hardened import each_variant
from bench.mesh import bench_mesh, echo_server
from bench.report import write_report
from bench.sleepers import sleepers
from bench.startup import ONE_PER_RUNTIME, time_to_serving, time_up
from bench.workloads import chain, concurrently, fan_out, repeat, run_to_end, timed

RESULTS = Path(__file__).resolve().parent / "results.json"
WATCHERS = 1000
INFLIGHT_RUNS = 10_000


class Bench:
    def __init__(self, quick: bool, workdir: Path, only: frozenset[str] = frozenset()) -> None:
        self.quick = quick
        self.only = only
        self.reps = 3 if quick else 5
        # p4 is a capacity figure (10,000 runs of 5 s each); its noise is small and each pass is long.
        self.capacity_reps = 1 if quick else 3
        self.workdir = workdir
        self.figures: dict[str, list[float]] = {}

    def add(self, key: str, value: float) -> None:
        self.figures.setdefault(key, []).append(value)

    async def measure(self) -> None:
        with echo_server() as echo_target:
            async with (
                bench_mesh(self.workdir / "bench.db") as mesh,
                grpc.aio.insecure_channel(echo_target) as raw,
                await Client.connect(mesh.target) as client,
            ):
                unary: Any = raw.unary_unary(UNARY)
                sleeper: Any = raw.unary_unary(SLEEP)
                stream: Any = raw.unary_stream(STREAM)
                await run_to_end(client, chain(2))  # warm up channels and the store
                for _ in range(self.reps):
                    if self.wanted("floor"):
                        await self.floor(unary, sleeper, stream)
                    await self.mesh(client)
                    if self.wanted("p5"):
                        await self.watchers(mesh.target, client)
                        await self.broadcast(echo_target)
                if self.wanted("p4"):
                    for _ in range(self.capacity_reps):
                        await self.capacity(client, mesh.gateway.pid)
        if self.wanted("p10") or self.wanted("p11"):
            await self.http()
        if self.wanted("p12"):
            for key, values in (await first_paint(self.workdir, self.reps)).items():
                for value in values:
                    self.add(key, value)
        if self.wanted("p8"):
            await each_variant(self.workdir, self.hardened)
        if self.wanted("p9"):
            await replicas.measure(self.add, self.reps)
        if self.wanted("p6"):
            await self.startup()
        if self.wanted("p13"):
            for _ in range(1 if self.quick else 3):
                for key, value in (await sleepers(self.workdir)).items():
                    self.add(key, value)

    def wanted(self, part: str) -> bool:
        return not self.only or part in self.only

    async def floor(self, unary: Any, sleeper: Any, stream: Any) -> None:
        calls = 500 if self.quick else 2000
        seconds = await timed(lambda: repeat(calls, lambda: unary(b"ping")))
        self.add("floor_unary_ms", seconds / calls * 1000)
        self.add("floor_unary_calls_per_s", await concurrently(64, 2.0, lambda: unary(b"ping")))
        # p2's floor: the same 100 calls of 100 ms at once, straight to a raw server.
        fan = await timed(lambda: asyncio.gather(*(sleeper(b"100") for _ in range(100))))
        self.add("floor_fanout_ms", fan * 1000)
        messages = 20000

        async def drain() -> None:
            async for _ in stream(str(messages).encode()):
                pass

        self.add("floor_stream_msgs_per_s", messages / await timed(drain))

    async def mesh(self, client: Client) -> None:
        if self.wanted("p1"):
            steps = 50
            per_step = await timed(lambda: run_to_end(client, chain(steps))) / steps
            self.add("p1_step_ms", per_step * 1000)
        if self.wanted("p2"):
            fan = fan_out(100, "sleep", {"ms": 100})
            self.add("p2_fanout_ms", await timed(lambda: run_to_end(client, fan)) * 1000)
        if self.wanted("p3"):
            one_step = chain(1)
            self.add("p3_runs_per_s", await concurrently(64, 3.0, lambda: run_to_end(client, one_step)))
        if self.wanted("p7"):
            self.add("p7_events_per_s", await self.replay_rate(client))

    async def hardened(self, variant: str, client: Client) -> None:
        """p1 and p3 again, on a mesh with TLS on every hop or exporting every span (p8)."""
        steps, long_chain, one_step = 50, chain(50), chain(1)
        await run_to_end(client, chain(2))
        for _ in range(self.reps):
            per_step = await timed(lambda: run_to_end(client, long_chain)) / steps
            self.add(f"p8_{variant}_p1_step_ms", per_step * 1000)
            runs = await concurrently(64, 3.0, lambda: run_to_end(client, one_step))
            self.add(f"p8_{variant}_p3_runs_per_s", runs)

    async def replay_rate(self, client: Client) -> float:
        run_id = await run_to_end(client, fan_out(1000 if self.quick else 3000, "noop", {}))
        events = 0

        async def replay() -> None:
            nonlocal events
            async for _ in client.handle(run_id).events():
                events += 1

        seconds = await timed(replay)
        return events / seconds

    async def watchers(self, target: str, client: Client) -> None:
        flow = watched_chain(settle_ms=3000, steps=10, step_ms=200)
        latencies = await delivery(target, client, WATCHERS, flow)
        self.add("p5_delivery_p50_ms", percentile(latencies, 0.50))
        self.add("p5_delivery_p99_ms", percentile(latencies, 0.99))

    async def broadcast(self, target: str) -> None:
        latencies = await raw_delivery(target, TICKS, WATCHERS, ticks=20, interval_ms=100)
        self.add("floor_broadcast_p99_ms", percentile(latencies, 0.99))

    async def http(self) -> None:
        """p10 and p11, on a gateway with its HTTP port: SSE next to gRPC, on the same runs."""
        async with (
            bench_mesh(self.workdir / "http.db", ["--http-port", "0"]) as mesh,
            await Client.connect(mesh.target) as client,
        ):
            await run_to_end(client, chain(2))

            def starter(flow: workflow_pb2.Workflow) -> Callable[[], Awaitable[str]]:
                async def start() -> str:
                    return (await client.start(flow)).run_id

                return start

            side_by_side = starter(watched_chain(settle_ms=1000, steps=60, step_ms=20))
            crowd = starter(watched_chain(settle_ms=3000, steps=10, step_ms=200))
            for _ in range(self.reps):
                if self.wanted("p10"):
                    over_grpc, over_sse = await sse.side_by_side(mesh.target, mesh.http_port, side_by_side)
                    self.add("p10_grpc_p99_ms", percentile(over_grpc, 0.99))
                    self.add("p10_sse_p99_ms", percentile(over_sse, 0.99))
                if self.wanted("p11"):
                    for kind in ("grpc", "sse"):
                        found = await sse.many(
                            mesh.target, mesh.http_port, crowd, WATCHERS, sse=kind == "sse"
                        )
                        self.add(f"p11_{kind}_delivery_p50_ms", percentile(found, 0.50))
                        self.add(f"p11_{kind}_delivery_p99_ms", percentile(found, 0.99))

    async def capacity(self, client: Client, gateway_pid: int) -> None:
        most, rss = await inflight(client, gateway_pid, INFLIGHT_RUNS, sleep_ms=5000)
        self.add("p4_inflight_runs", most)
        self.add("p4_rss_mb", rss)

    async def startup(self) -> None:
        for _ in range(self.reps):
            seconds, rss = time_up(self.workdir)
            self.add("p6_startup_s", seconds)
            for runtime, mb in rss.items():
                self.add(f"p6_{runtime}_rss_mb", mb)
            for runtime, name in ONE_PER_RUNTIME.items():
                self.add(f"p6_{runtime}_serving_s", await time_to_serving(name))

    def medians(self) -> dict[str, float]:
        return {key: round(statistics.median(values), 4) for key, values in self.figures.items()}

    def results(self) -> dict[str, float]:
        median = {key: statistics.median(values) for key, values in self.figures.items()}
        out = {
            "p1_step_ratio": median["p1_step_ms"] / median["floor_unary_ms"],
            "p2_fanout_ms": median["p2_fanout_ms"],
            "p3_throughput_ratio": median["p3_runs_per_s"] / median["floor_unary_calls_per_s"],
            "p4_inflight_runs": median["p4_inflight_runs"],
            "p4_rss_mb": median["p4_rss_mb"],
            "p5_delivery_p99_ms": median["p5_delivery_p99_ms"],
            "p6_startup_s": median["p6_startup_s"],
            "p6_python_rss_mb": median["p6_python_rss_mb"],
            "p6_node_rss_mb": median["p6_node_rss_mb"],
            "p6_go_rss_mb": median["p6_go_rss_mb"],
            "p6_python_serving_s": median["p6_python_serving_s"],
            "p6_node_serving_s": median["p6_node_serving_s"],
            "p6_go_serving_s": median["p6_go_serving_s"],
            "p7_event_ratio": median["p7_events_per_s"] / median["floor_stream_msgs_per_s"],
            "p12_first_paint_ms": median["p12_first_paint_ms"],
            "p10_sse_ratio": median["p10_sse_p99_ms"] / median["p10_grpc_p99_ms"],
            "p11_sse_delivery_p99_ms": median["p11_sse_delivery_p99_ms"],
            "p11_sse_ratio": median["p11_sse_delivery_p99_ms"] / median["p11_grpc_delivery_p99_ms"],
            "p13_tasks_per_sleeping_run": median["p13_tasks_per_sleeping_run"],
            "p13_rss_kb_per_sleeping_run": median["p13_rss_kb_per_sleeping_run"],
            "p13_wake_late_p99_ms": median["p13_wake_late_p99_ms"],
        }
        out["p9_pg_p1_cost"] = median["p9_pg_p1_step_ms"] / median["p1_step_ms"]
        out["p9_pg_p3_cost"] = median["p3_runs_per_s"] / median["p9_pg_r1_p3_runs_per_s"]
        out["p9_r2_p3_ratio"] = median["p9_pg_r2_p3_runs_per_s"] / median["p9_pg_r1_p3_runs_per_s"]
        out["p9_r3_p3_ratio"] = median["p9_pg_r3_p3_runs_per_s"] / median["p9_pg_r1_p3_runs_per_s"]
        out["p9_takeover_s"] = median["p9_takeover_s"]
        out["p9_r3_p4_inflight_runs"] = median["p9_pg_r3_p4_inflight_runs"]
        for variant in ("tls", "otlp"):
            out[f"p8_{variant}_p1_cost"] = median[f"p8_{variant}_p1_step_ms"] / median["p1_step_ms"]
            out[f"p8_{variant}_p3_cost"] = median["p3_runs_per_s"] / median[f"p8_{variant}_p3_runs_per_s"]
        out.update({f"raw_{key}": value for key, value in median.items()})
        out.update({f"spread_{key}": max(v) - min(v) for key, v in self.figures.items()})
        return {key: round(value, 4) for key, value in out.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Fewer repetitions and smaller runs (< 5 min).")
    parser.add_argument(
        "--only",
        default="",
        help="Comma-separated parts to measure (floor,p1,...,p13); prints them and writes no files.",
    )
    args = parser.parse_args()
    only = frozenset(part for part in args.only.split(",") if part)
    with tempfile.TemporaryDirectory(prefix="agentmesh-bench-") as workdir:
        bench = Bench(args.quick, Path(workdir), only)
        asyncio.run(bench.measure())
    if only:
        print(json.dumps(bench.medians(), indent=2))
        return
    results = bench.results()
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    write_report(results, args.quick)
    print(json.dumps({k: v for k, v in results.items() if not k.startswith(("raw_", "spread_"))}, indent=2))


if __name__ == "__main__":
    main()
