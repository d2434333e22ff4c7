"""Where a step's time goes in the gateway: py-spy samples the gateway process while a workload
runs, writes a flame graph (bench/profiles/NAME.svg), and prints from the folded stacks the
per-step budget: CPU samples of each stage, as microseconds per unit of work (a step for p1,
a run for p3, a delivered event for p5 and p11). A stage is the thread (the SQLite store's, gRPC
core's) or, on the event loop, the innermost agentmesh module of the sample (grpc, protobuf
and asyncio frames count for the agentmesh code that called them; samples with no agentmesh
frame are asyncio's and grpc.aio's own).

    python -m bench.profile p1        # a chain of 50 no-op steps, run back to back
    python -m bench.profile p3        # 64 clients running one-step workflows
    python -m bench.profile p5        # 1,000 WatchRun subscribers on one run
    python -m bench.profile p11       # 1,000 SSE followers of one run (the HTTP port)
    python -m bench.profile p1 --store postgres   # p1 on a PostgreSQL server started for it

py-spy (`pip install py-spy`; a development tool, not a dependency) must be able to ptrace the
gateway (root, or kernel.yama.ptrace_scope=0).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from agentmesh.client import Client
from bench import sse
from bench.capacity import delivery, watched_chain
from bench.mesh import BenchMesh, bench_mesh
from bench.workloads import chain, concurrently, run_to_end

PROFILES = Path(__file__).resolve().parent / "profiles"
SECONDS = 20.0
RATE = 250  # samples a second


async def p1(client: Client, _: BenchMesh) -> int:
    """Chains of 50 no-op steps, one after the other; steps done."""
    flow, steps = chain(50), 0
    stop = time.monotonic() + SECONDS
    while time.monotonic() < stop:
        await run_to_end(client, flow)
        steps += 50
    return steps


async def p3(client: Client, _: BenchMesh) -> int:
    flow = chain(1)
    rate = await concurrently(64, SECONDS, lambda: run_to_end(client, flow))
    return int(rate * SECONDS)


async def p5(client: Client, mesh: BenchMesh) -> int:
    """1,000 watchers on runs of a 3 s step then 10 steps of 200 ms, for the time given; events
    delivered (each event to each watcher counts as one step of work here)."""
    delivered = 0
    stop = time.monotonic() + SECONDS
    while time.monotonic() < stop:
        found = await delivery(mesh.target, client, 1000, watched_chain(3000, 10, 200))
        delivered += len(found)
    return delivered


async def p11(client: Client, mesh: BenchMesh) -> int:
    """p5's runs followed by 1,000 SSE clients, a connection each; events delivered live."""
    delivered = 0
    flow = watched_chain(3000, 10, 200)
    stop = time.monotonic() + SECONDS
    while time.monotonic() < stop:

        async def start() -> str:
            return (await client.start(flow)).run_id

        delivered += len(await sse.many(mesh.target, mesh.http_port, start, 1000, sse=True))
    return delivered


WORKLOADS: dict[str, Callable[[Client, BenchMesh], Awaitable[int]]] = {
    "p1": p1,
    "p3": p3,
    "p5": p5,
    "p11": p11,
}
#: What a workload needs of the gateway beyond bench_mesh's defaults.
GATEWAY_ARGS: dict[str, list[str]] = {"p11": ["--http-port", "0"]}


def budget(folded: Path, units: int) -> list[tuple[str, int, float]]:
    """(stage, samples, µs of CPU per unit of work), most first, from py-spy's folded stacks
    (py-spy records a thread only while it runs, so samples are CPU time, every thread counted)."""
    by_stage: collections.Counter[str] = collections.Counter()
    for line in folded.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        by_stage[_stage(stack)] += int(count)
    per_sample_us = 1e6 / RATE
    return [(m, n, n * per_sample_us / max(units, 1)) for m, n in by_stage.most_common()]


def _stage(stack: str) -> str:
    frames = stack.split(";")
    if frames[0].startswith("Thread._bootstrap"):
        if frames[-1].startswith("_worker (concurrent/futures/thread.py"):
            return "thread: idle worker (waiting for work)"
        if any("store/sqlite" in frame for frame in frames):
            return "thread: SQLite store (writes and reads)"
        if any("concurrent/futures" in frame for frame in frames):
            return "thread: other worker threads (waking the loop)"
        return "thread: gRPC core (polling, sockets)"
    for frame in reversed(frames):
        # py-spy frames: "function (path/to/module.py:line)"
        path = frame.rpartition("(")[2]
        for package in ("agentmesh_gateway/", "agentmesh/"):
            if package in path and not path.startswith(("agentmesh_gateway/main.py", "agentmesh_cli")):
                return package + path.split(package, 1)[1].split(".py")[0] + ".py"
    top = frames[-1]
    if "select" in top or "epoll" in top or "poll (" in top:
        return "loop: waiting for I/O"
    return "loop: asyncio and grpc.aio (no agentmesh frame)"


async def profile(name: str, workdir: Path, database: str = "") -> None:
    """Profile workload `name` on a gateway whose store is SQLite in `workdir`, or `database`."""
    PROFILES.mkdir(exist_ok=True)
    store = database or workdir / "profile.db"
    label = f"{name}-postgres" if database else name
    async with (
        bench_mesh(store, GATEWAY_ARGS.get(name, [])) as mesh,
        await Client.connect(mesh.target) as client,
    ):
        await run_to_end(client, chain(2))  # warm
        folded = workdir / f"{label}.folded"  # large; the SVG is what is kept
        command = [
            _py_spy(), "record", "--pid", str(mesh.gateway.pid),
            "--rate", str(RATE), "--duration", str(int(SECONDS) + 1), "--nonblocking",
        ]  # fmt: skip
        svg = await asyncio.create_subprocess_exec(
            *command, "--format", "flamegraph", "-o", str(PROFILES / f"{label}.svg")
        )
        raw = await asyncio.create_subprocess_exec(*command, "--format", "raw", "-o", str(folded))
        await asyncio.sleep(1.0)  # both samplers attached
        started = time.monotonic()
        units = await WORKLOADS[name](client, mesh)
        elapsed = time.monotonic() - started
        for sampler in (svg, raw):
            await asyncio.wait_for(sampler.wait(), 60)
    print(f"{label}: {units} units of work in {elapsed:.1f} s ({elapsed / max(units, 1) * 1e6:.0f} µs each)")
    print(f"{'stage':<60} {'samples':>8} {'µs/unit':>9}")
    for module, samples, micros in budget(folded, units)[:25]:
        print(f"{module:<60} {samples:>8} {micros:>9.1f}")


def _py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")  # installed into this venv
    return str(beside) if beside.exists() else shutil.which("py-spy") or "py-spy"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workload", choices=sorted(WORKLOADS))
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="agentmesh-profile-") as workdir:
        if args.store == "sqlite":
            asyncio.run(profile(args.workload, Path(workdir)))
            return
        # The tests' PostgreSQL harness (fsync off, as in p9): `make test` installs the server.
        from tests.support.postgres import create_database, postgres_server

        with postgres_server() as server:
            asyncio.run(profile(args.workload, Path(workdir), create_database(server, "profile")))


if __name__ == "__main__":
    main()
