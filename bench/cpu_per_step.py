"""CPU time per chained step, by process: `python -m bench.cpu_per_step [SECONDS]`.

Runs back-to-back 50-step no-op chains through a gateway and the bench agent, and reads
each process's CPU time from /proc/PID/stat before and after, so that the figures in
BENCHMARKS.md ("where a step's time goes") can be reproduced.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import grpc

from agentmesh.health import wait_serving
from agentmesh.process import ServerProcess
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from bench.workloads import chain, run_to_end

STEPS = 50


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="agentmesh-cpu-") as workdir:
        agent = ServerProcess(
            [sys.executable, "-m", "bench.bench_agent", "--host", "127.0.0.1", "--port", "0"]
        )
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
                str(Path(workdir) / "cpu.db"),
                "--agent",
                f"bench=127.0.0.1:{agent.port}",
            ]
        )
        await gateway.start()
        await wait_serving(f"127.0.0.1:{gateway.port}")
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{gateway.port}") as channel:
                stub = pb_grpc.OrchestratorServiceStub(channel)
                await run_to_end(stub, chain(5))  # warm up
                before = cpu_seconds(gateway.pid), cpu_seconds(agent.pid), time.process_time()
                started, steps = time.perf_counter(), 0
                while time.perf_counter() - started < seconds:
                    await run_to_end(stub, chain(STEPS))
                    steps += STEPS
                wall = time.perf_counter() - started
                after = cpu_seconds(gateway.pid), cpu_seconds(agent.pid), time.process_time()
        finally:
            await gateway.stop()
            await agent.stop()
    names = ("gateway", "agent", "bench client")
    for name, start, end in zip(names, before, after, strict=True):
        print(f"{name:<13} {(end - start) / steps * 1000:6.2f} ms CPU per step")
    print(f"{'wall':<13} {wall / steps * 1000:6.2f} ms per step ({steps} steps)")


if __name__ == "__main__":
    asyncio.run(measure(float(sys.argv[1]) if len(sys.argv) > 1 else 8.0))
