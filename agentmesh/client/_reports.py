"""What the gateway reports besides runs: its agents, its metrics, chat answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from agentmesh.client._runs import timestamp
from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import orchestrator_service_pb2 as pb


class ReplicaHealth(Enum):
    UNSPECIFIED = "unspecified"
    SERVING = "serving"
    NOT_SERVING = "not_serving"
    UNKNOWN = "unknown"


_HEALTH = {int(v): ReplicaHealth[n.removeprefix("REPLICA_HEALTH_")] for n, v in pb.ReplicaHealth.items()}


@dataclass(frozen=True, slots=True)
class Replica:
    address: str
    health: ReplicaHealth


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """An agent the gateway calls: its replicas with their health, and its card (once fetched)."""

    name: str
    replicas: tuple[Replica, ...]
    card: agent_pb.AgentCard | None = field(repr=False)

    @property
    def skills(self) -> tuple[str, ...]:
        return tuple(skill.id for skill in self.card.skills) if self.card is not None else ()

    @classmethod
    def from_proto(cls, status: pb.AgentStatus) -> AgentStatus:
        replicas = tuple(
            Replica(r.address, _HEALTH.get(r.health, ReplicaHealth.UNSPECIFIED)) for r in status.replicas
        )
        return cls(status.name, replicas, status.card if status.HasField("card") else None)


@dataclass(frozen=True, slots=True)
class AgentMetrics:
    agent: str
    executions: int
    successes: int
    failures: int
    success_rate: float
    average_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    #: Tokens the agent's calls reported using (prompt and output), kept across restarts.
    tokens_used: int


@dataclass(frozen=True, slots=True)
class Metrics:
    """Runs by outcome, and each agent's calls with their latency (agents by executions, most first)."""

    workflows_executed: int
    workflows_succeeded: int
    workflows_failed: int
    workflows_cancelled: int
    workflows_running: int
    success_rate: float
    agents: tuple[AgentMetrics, ...]
    time: datetime | None

    @classmethod
    def from_proto(cls, metrics: pb.Metrics) -> Metrics:
        agents = tuple(
            AgentMetrics(
                a.agent,
                a.executions,
                a.successes,
                a.failures,
                a.success_rate,
                a.average_ms,
                a.p50_ms,
                a.p95_ms,
                a.p99_ms,
                a.tokens_used,
            )
            for a in metrics.agents
        )
        return cls(
            metrics.workflows_executed,
            metrics.workflows_succeeded,
            metrics.workflows_failed,
            metrics.workflows_cancelled,
            metrics.workflows_running,
            metrics.success_rate,
            agents,
            timestamp(metrics, "time"),
        )


@dataclass(frozen=True, slots=True)
class ChatReply:
    text: str
    session_id: str
    tokens_used: int


@dataclass(frozen=True, slots=True)
class Caller:
    """Who the gateway takes the caller to be: `role` is "viewer", "operator" or "admin" (admin
    when the gateway checks no tokens); `tenant_isolation`: it sees only the runs it started."""

    principal: str
    role: str
    authenticated: bool
    tenant_isolation: bool

    @classmethod
    def from_proto(cls, caller: pb.GetCallerResponse) -> Caller:
        role = pb.CallerRole.Name(caller.role).removeprefix("CALLER_ROLE_").lower()
        return cls(caller.principal, role, caller.authenticated, caller.tenant_isolation)
