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
from tests.support.mesh import Gateway
from tests.support.scrape import metrics_port, scrape, value

#: How long the gateway's event loop may be held by anything a request makes it do: a bucket
#: bound of its `agentmesh_event_loop_lag_seconds` histogram.
MAX_LOOP_LAG = "0.1"
#: A health check's deadline: it must be answered, SERVING (a Kubernetes probe allows 1 s, and
#: the test's own process may be slow to read the answer when the machine is busy).
HEALTH_DEADLINE = 5.0


@dataclass
class HealthLog:
    checks: int = 0
    failures: list[str] = field(default_factory=list)
    #: Samples of the gateway's loop lag taken meanwhile, and how many were over MAX_LOOP_LAG.
    lag_samples: float = 0
    held: float = 0

    @property
    def fine(self) -> bool:
        """Health answered SERVING every time, and the loop was never held past MAX_LOOP_LAG."""
        return self.checks > 0 and self.failures == [] and self.lag_samples > 0 and self.held == 0


async def _lag(metrics_port: int) -> tuple[float, float]:
    """The gateway's loop lag samples so far, and how many of them were over MAX_LOOP_LAG."""
    families = await scrape(metrics_port)
    total = value(families, "agentmesh_event_loop_lag_seconds_count")
    within = value(families, "agentmesh_event_loop_lag_seconds_bucket", le=MAX_LOOP_LAG)
    return total, total - within


@asynccontextmanager
async def health_watched(gateway: Gateway) -> AsyncIterator[HealthLog]:
    """While the block runs: Health.Check every 20 ms (over a connection of its own, as a
    Kubernetes probe's), and the gateway's own measure of how long its event loop was held
    (`agentmesh_event_loop_lag_seconds` on its metrics port: a timer's lateness inside the
    gateway, which the test's own load cannot skew)."""
    log = HealthLog()
    port = metrics_port(gateway.process)
    samples_before, held_before = await _lag(port)
    options = [("grpc.use_local_subchannel_pool", 1)]
    async with grpc.aio.insecure_channel(gateway.target, options=options) as channel:
        await health.check(channel, timeout=5)  # connected before anything is counted

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
            await asyncio.sleep(0.1)  # a few more checks and lag samples after the request is answered
        finally:
            poller.cancel()
            await asyncio.gather(poller, return_exceptions=True)
    samples, held = await _lag(port)
    log.lag_samples, log.held = samples - samples_before, held - held_before


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
