"""The dashboard's figures, computed from what the store recorded (so they survive restarts)."""

from __future__ import annotations

from agentmesh.messages import timestamp_now
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import run_pb2
from agentmesh_gateway.store.base import RunStore


async def collect(store: RunStore) -> pb.Metrics:
    counts = await store.run_counts()
    succeeded = counts.get(run_pb2.RUN_STATE_SUCCEEDED, 0)
    failed = counts.get(run_pb2.RUN_STATE_FAILED, 0)
    cancelled = counts.get(run_pb2.RUN_STATE_CANCELLED, 0)
    executed = succeeded + failed + cancelled
    now = timestamp_now()
    metrics = pb.Metrics(
        workflows_executed=executed,
        workflows_succeeded=succeeded,
        workflows_failed=failed,
        workflows_cancelled=cancelled,
        workflows_running=counts.get(run_pb2.RUN_STATE_RUNNING, 0) + counts.get(run_pb2.RUN_STATE_PENDING, 0),
        success_rate=succeeded / executed if executed else 0.0,
        time=now,
    )
    for stats in sorted(await store.call_stats(), key=lambda s: (-s.executions, s.agent)):
        metrics.agents.add(
            agent=stats.agent,
            executions=stats.executions,
            successes=stats.successes,
            failures=stats.executions - stats.successes,
            success_rate=stats.successes / stats.executions,
            average_ms=stats.average_ms,
            p50_ms=stats.p50_ms,
            p95_ms=stats.p95_ms,
            p99_ms=stats.p99_ms,
            tokens_used=stats.tokens,
        )
    return metrics
