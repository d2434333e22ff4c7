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
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import json_format

from agentmesh.health import wait_serving
from agentmesh.process import ServerProcess
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh.v1 import workflow_pb2
from bench.echo_server import STREAM, UNARY

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results.json"
REPORT = ROOT / "BENCHMARKS.md"
if TYPE_CHECKING:
    Stub = pb_grpc.OrchestratorServiceAsyncStub


def workflow(data: dict[str, Any]) -> workflow_pb2.Workflow:
    return json_format.ParseDict(data, workflow_pb2.Workflow())


def chain(length: int) -> workflow_pb2.Workflow:
    return workflow(
        {
            "name": "chain",
            "steps": [
                {"id": f"s{i}", "agent": "bench", "skill": "noop", "dependencies": [f"s{i - 1}"] if i else []}
                for i in range(length)
            ],
        }
    )


def fan_out(items: int, skill: str, data: dict[str, Any]) -> workflow_pb2.Workflow:
    return workflow(
        {
            "name": "fan",
            "steps": [
                {
                    "id": "each",
                    "agent": "bench",
                    "skill": skill,
                    "input": data,
                    "for_each": "${" + json.dumps(list(range(items))) + "}",
                }
            ],
        }
    )


async def run_to_end(stub: Stub, flow: workflow_pb2.Workflow) -> str:
    run_id = ""
    async for response in stub.RunWorkflow(pb.RunWorkflowRequest(workflow=flow)):
        run_id = response.event.run_id
        if response.event.WhichOneof("event") in ("run_failed", "run_cancelled"):
            raise RuntimeError(f"bench run failed: {response.event}")
    return run_id


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def concurrently(clients: int, seconds: float, call: Callable[[], Awaitable[Any]]) -> float:
    """Calls per second completed by `clients` loops calling `call` for `seconds`."""
    done = 0
    stop = time.perf_counter() + seconds

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < stop:
            await call()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(clients)))
    return done / (time.perf_counter() - started)


class Bench:
    def __init__(self, quick: bool, workdir: Path) -> None:
        self.quick = quick
        self.reps = 3 if quick else 5
        self.workdir = workdir
        self.figures: dict[str, list[float]] = {}
        self.processes: list[ServerProcess] = []

    def add(self, key: str, value: float) -> None:
        self.figures.setdefault(key, []).append(value)

    async def start(self) -> tuple[str, str]:
        # Started once, before anything is measured: a blocking spawn costs nothing that counts.
        echo = subprocess.Popen(  # noqa: ASYNC220
            [sys.executable, "-m", "bench.echo_server"], stdout=subprocess.PIPE, text=True
        )
        assert echo.stdout is not None
        self.echo = echo
        echo_target = f"127.0.0.1:{int(echo.stdout.readline())}"
        agent = ServerProcess(
            [sys.executable, "-m", "bench.bench_agent", "--host", "127.0.0.1", "--port", "0"]
        )
        self.processes.append(agent)
        await agent.start()
        await wait_serving(f"127.0.0.1:{agent.port}")
        gateway = ServerProcess(
            [
                sys.executable,
                "-m",
                "agentmesh",
                "gateway",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--store",
                str(self.workdir / "bench.db"),
                "--agent",
                f"bench=127.0.0.1:{agent.port}",
            ]
        )
        self.processes.append(gateway)
        await gateway.start()
        await wait_serving(f"127.0.0.1:{gateway.port}")
        return echo_target, f"127.0.0.1:{gateway.port}"

    async def stop(self) -> None:
        for process in reversed(self.processes):
            await process.stop()
        self.echo.terminate()
        self.echo.wait(10)

    async def measure(self) -> None:
        echo_target, gateway_target = await self.start()
        try:
            async with (
                grpc.aio.insecure_channel(echo_target) as raw,
                grpc.aio.insecure_channel(gateway_target) as gw,
            ):
                unary: Any = raw.unary_unary(UNARY)
                stream: Any = raw.unary_stream(STREAM)
                stub = pb_grpc.OrchestratorServiceStub(gw)
                await run_to_end(stub, chain(2))  # warm up channels and the store
                for _ in range(self.reps):
                    await self.floor(unary, stream)
                    await self.mesh(stub)
        finally:
            await self.stop()
        self.startup()

    async def floor(self, unary: Any, stream: Any) -> None:
        calls = 500 if self.quick else 2000
        seconds = await timed(lambda: _repeat(calls, lambda: unary(b"ping")))
        self.add("floor_unary_ms", seconds / calls * 1000)
        self.add("floor_unary_calls_per_s", await concurrently(64, 2.0, lambda: unary(b"ping")))
        messages = 20000

        async def drain() -> None:
            async for _ in stream(str(messages).encode()):
                pass

        self.add("floor_stream_msgs_per_s", messages / await timed(drain))

    async def mesh(self, stub: Stub) -> None:
        steps = 50
        per_step = await timed(lambda: run_to_end(stub, chain(steps))) / steps
        self.add("p1_step_ms", per_step * 1000)
        self.add(
            "p2_fanout_ms", await timed(lambda: run_to_end(stub, fan_out(100, "sleep", {"ms": 100}))) * 1000
        )
        one_step = chain(1)
        self.add("p3_runs_per_s", await concurrently(64, 3.0, lambda: run_to_end(stub, one_step)))
        run_id = await run_to_end(stub, fan_out(1000 if self.quick else 3000, "noop", {}))
        events = 0

        async def replay() -> None:
            nonlocal events
            async for _ in stub.WatchRun(pb.WatchRunRequest(run_id=run_id)):
                events += 1

        seconds = await timed(replay)
        self.add("p7_events_per_s", events / seconds)

    def startup(self) -> None:
        for _ in range(self.reps):
            seconds, rss = _time_up(self.workdir)
            self.add("p6_startup_s", seconds)
            self.add("p6_agent_rss_mb", rss)

    def results(self) -> dict[str, float]:
        median = {key: statistics.median(values) for key, values in self.figures.items()}
        out = {
            "p1_step_ratio": median["p1_step_ms"] / median["floor_unary_ms"],
            "p2_fanout_ms": median["p2_fanout_ms"],
            "p3_throughput_ratio": median["p3_runs_per_s"] / median["floor_unary_calls_per_s"],
            "p6_startup_s": median["p6_startup_s"],
            "p6_agent_rss_mb": median["p6_agent_rss_mb"],
            "p7_event_ratio": median["p7_events_per_s"] / median["floor_stream_msgs_per_s"],
        }
        out.update({f"raw_{key}": value for key, value in median.items()})
        out.update({f"spread_{key}": max(v) - min(v) for key, v in self.figures.items()})
        return {key: round(value, 4) for key, value in out.items()}


async def _repeat(times: int, call: Callable[[], Awaitable[Any]]) -> None:
    for _ in range(times):
        await call()


def _time_up(workdir: Path) -> tuple[float, float]:
    """`agentmesh up` (ports picked by the OS) until it reports every server SERVING; an idle agent's RSS."""
    from services import AGENTS

    mesh = workdir / "up.yaml"
    agents = "".join(f"  {name}: 127.0.0.1:0\n" for name in AGENTS)
    mesh.write_text(f"gateway: {{port: 0, store: {workdir / 'up.db'}}}\nagents:\n{agents}")
    started = time.perf_counter()
    up = subprocess.Popen(
        [sys.executable, "-m", "agentmesh", "up", "--config", str(mesh)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert up.stdout is not None
    pids = []
    for line in up.stdout:
        if found := re.search(r"pid (\d+)", line):
            pids.append(int(found.group(1)))
        if "mesh is up" in line:
            break
    elapsed = time.perf_counter() - started
    time.sleep(1.0)
    rss = statistics.median(_rss_mb(pid) for pid in pids[:-1])  # the agents; the gateway is last
    up.send_signal(2)
    up.wait(30)
    return elapsed, rss


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


TARGETS = {
    "p1_step_ratio": ("chain of 50 no-op steps: time per step ÷ raw unary round trip", "≤ 1.5"),
    "p2_fanout_ms": ("for_each over 100 items of a 100 ms agent: wall time of the run (ms)", "≤ 130"),
    "p3_throughput_ratio": ("one-step workflows/s with 64 concurrent clients ÷ raw unary calls/s", "≥ 0.4"),
    "p4_inflight_runs": ("runs in flight at once on one gateway (steps sleep 5 s), all completed", "10,000"),
    "p4_rss_mb": ("gateway peak RSS during p4 (MB)", "≤ 500"),
    "p5_delivery_p99_ms": ("1,000 WatchRun subscribers on one run: p99 recorded→received (ms)", "≤ 50"),
    "p6_startup_s": ("`agentmesh up` to all eight servers SERVING (s)", "≤ 3"),
    "p6_agent_rss_mb": ("idle agent RSS (MB)", "≤ 60"),
    "p7_event_ratio": ("events/s delivered to one watcher ÷ raw server-stream messages/s", "≥ 0.6"),
}
FLOOR = {
    "p1_step_ratio": "raw_floor_unary_ms",
    "p3_throughput_ratio": "raw_floor_unary_calls_per_s",
    "p7_event_ratio": "raw_floor_stream_msgs_per_s",
}


def write_report(results: dict[str, float], quick: bool) -> None:
    rows = []
    for key, (figure, target) in TARGETS.items():
        value = f"{results[key]:g}" if key in results else "not measured yet"
        floor = f"{FLOOR[key].removeprefix('raw_')} = {results[FLOOR[key]]:g}" if key in FLOOR else ""
        rows.append(f"| `{key}` | {figure} | {value} | {target} | {floor} |")
    mode = "quick" if quick else "full"
    text = REPORT.read_text() if REPORT.exists() else ""
    table = "\n".join(
        ["| key | figure | value | target | floor (same run) |", "|---|---|---|---|---|", *rows]
    )
    command = "make bench QUICK=1" if quick else "make bench"
    block = f"<!-- results:start -->\nLast run: {mode} mode, `{command}`.\n\n{table}\n<!-- results:end -->"
    if "<!-- results:start -->" in text:
        text = re.sub(r"<!-- results:start -->.*<!-- results:end -->", block, text, flags=re.DOTALL)
    else:
        text += "\n" + block + "\n"
    REPORT.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="Fewer repetitions and smaller runs (< 5 min).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentmesh-bench-") as workdir:
        bench = Bench(args.quick, Path(workdir))
        asyncio.run(bench.measure())
    results = bench.results()
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    write_report(results, args.quick)
    print(json.dumps({k: v for k, v in results.items() if not k.startswith(("raw_", "spread_"))}, indent=2))


if __name__ == "__main__":
    main()
