"""Helpers for sending the gateway what a hostile or careless client would, and watching it cope."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc

from agentmesh import health
from agentmesh.client import Client
from agentmesh.status import ErrorDetails, details_of

#: How fast health must answer while the gateway works on a request (a Kubernetes probe allows 1 s).
HEALTH_DEADLINE = 0.1


@dataclass
class HealthLog:
    checks: int = 0
    failures: list[str] = field(default_factory=list)


@asynccontextmanager
async def health_watched(target: str) -> AsyncIterator[HealthLog]:
    """Health.Check every 20 ms with a 100 ms deadline for as long as the block runs.

    The checks go over a connection of their own, as a Kubernetes probe's do, so they
    measure the server, not a queue behind a large request on a shared connection.
    """
    log = HealthLog()
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(target, options=options) as channel:
        await health.check(channel, timeout=5)  # connected before timing anything

        async def poll() -> None:
            while True:
                try:
                    status = await health.check(channel, timeout=HEALTH_DEADLINE)
                    if status != health.SERVING:
                        log.failures.append(f"status {status}")
                except grpc.aio.AioRpcError as exc:
                    log.failures.append(exc.code().name)
                log.checks += 1
                await asyncio.sleep(0.02)

        poller = asyncio.create_task(poll())
        try:
            yield log
            await asyncio.sleep(0.05)  # one more check after the request is answered
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)


async def refused(call: Any) -> ErrorDetails:
    """The rich error a call fails with (it must fail)."""
    try:
        await call
    except grpc.aio.AioRpcError as exc:
        return details_of(exc)
    raise AssertionError("the call succeeded")


def status_size(error: grpc.aio.AioRpcError) -> int:
    """Bytes of the status a failed call carried in its trailers."""
    trailers = error.trailing_metadata() or ()
    return sum(len(value) for key, value in trailers if key.startswith("grpc-")) + len(error.details() or "")


async def run_count(client: Client) -> int:
    return len([run async for run in client.list_runs(page_size=500)])


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory (VmHWM), in MB."""
    return _status_mb(pid, "VmHWM")


def current_rss_mb(pid: int) -> float:
    """The process's resident memory now (VmRSS), in MB."""
    return _status_mb(pid, "VmRSS")


def _status_mb(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")
