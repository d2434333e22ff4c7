"""The workflows the benchmarks run, and the timing loops that drive them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from google.protobuf import json_format

from agentmesh.client import Client, RunCancelled, RunFailed
from agentmesh.v1 import workflow_pb2


def workflow(data: dict[str, Any]) -> workflow_pb2.Workflow:
    return json_format.ParseDict(data, workflow_pb2.Workflow())


def chain(length: int, skill: str = "noop", data: dict[str, Any] | None = None) -> workflow_pb2.Workflow:
    """`length` steps, each depending on the one before."""
    return workflow(
        {
            "name": "chain",
            "steps": [
                {
                    "id": f"s{i}",
                    "agent": "bench",
                    "skill": skill,
                    "input": data or {},
                    "dependencies": [f"s{i - 1}"] if i else [],
                }
                for i in range(length)
            ],
        }
    )


def fan_out(items: int, skill: str, data: dict[str, Any]) -> workflow_pb2.Workflow:
    """One `for_each` step over `items` items."""
    return workflow(
        {
            "name": "fan",
            "steps": [
                {
                    "id": "each",
                    "agent": "bench",
                    "skill": skill,
                    "input": data,
                    "for_each": f"${{[0] * {items}}}",  # items only count here, not their values
                }
            ],
        }
    )


async def run_to_end(client: Client, flow: workflow_pb2.Workflow) -> str:
    """Run `flow`, following its events to the end (RunWorkflow, through the client); the run id."""
    run_id = ""
    async for event in client.stream(flow):
        run_id = event.run_id
        if isinstance(event, RunFailed | RunCancelled):
            raise RuntimeError(f"bench run failed: {event}")
    return run_id


async def timed(work: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def repeat(times: int, call: Callable[[], Awaitable[Any]]) -> None:
    for _ in range(times):
        await call()


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
