"""The dashboard's figures, computed from what the store recorded (so they survive restarts)."""

from __future__ import annotations

import math
from collections import defaultdict

from google.protobuf import timestamp_pb2

from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import run_pb2
from gateway.store.base import RunStore


async def collect(store: RunStore) -> pb.Metrics:
    counts = await store.run_counts()
    succeeded = counts.get(run_pb2.RUN_STATE_SUCCEEDED, 0)
    failed = counts.get(run_pb2.RUN_STATE_FAILED, 0)
    cancelled = counts.get(run_pb2.RUN_STATE_CANCELLED, 0)
    executed = succeeded + failed + cancelled
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    metrics = pb.Metrics(
        workflows_executed=executed,
        workflows_succeeded=succeeded,
        workflows_failed=failed,
        workflows_cancelled=cancelled,
        workflows_running=counts.get(run_pb2.RUN_STATE_RUNNING, 0) + counts.get(run_pb2.RUN_STATE_PENDING, 0),
        success_rate=succeeded / executed if executed else 0.0,
        time=now,
    )
    by_agent: dict[str, list[tuple[bool, float]]] = defaultdict(list)
    for call in await store.calls():
        by_agent[call.agent].append((call.ok, call.millis))
    for agent, calls in sorted(by_agent.items(), key=lambda item: (-len(item[1]), item[0])):
        latencies = sorted(millis for _, millis in calls)
        successes = sum(1 for ok, _ in calls if ok)
        metrics.agents.add(
            agent=agent,
            executions=len(calls),
            successes=successes,
            failures=len(calls) - successes,
            success_rate=successes / len(calls),
            average_ms=sum(latencies) / len(latencies),
            p50_ms=_percentile(latencies, 0.50),
            p95_ms=_percentile(latencies, 0.95),
        )
    return metrics


def _percentile(ordered: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]
