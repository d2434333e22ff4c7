"""A caller as the gateway knows it once its token checks out, and the roles that rank callers."""

from __future__ import annotations

import enum
from contextvars import ContextVar
from dataclasses import dataclass


class Role(enum.IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3

    @classmethod
    def named(cls, name: str) -> Role | None:
        return cls.__members__.get(name.strip().upper())

    @property
    def label(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Principal:
    """`name` is what runs record as their owner: a token's name, or a JWT's `sub`."""

    name: str
    role: Role

    def may(self, role: Role) -> bool:
        return self.role >= role


#: The principal of the call being served; None when the gateway runs without authentication.
current_principal: ContextVar[Principal | None] = ContextVar("agentmesh_principal", default=None)


def caller_name() -> str:
    """Who makes the call being served (empty without authentication): what a run records."""
    principal = current_principal.get()
    return principal.name if principal is not None else ""


def visible_owner(tenant_isolation: bool) -> str | None:
    """The one owner whose runs the caller may see, or None for every run: with tenant isolation,
    a principal sees its own runs, an admin everyone's."""
    principal = current_principal.get()
    if not tenant_isolation or principal is None or principal.may(Role.ADMIN):
        return None
    return principal.name


_SERVICE = "/agentmesh.v1.OrchestratorService/"
_VIEWER = (
    "GetRun",
    "ListRuns",
    "WatchRun",
    "ListAgents",
    "ListWorkflows",
    "GetMetrics",
    "WatchMetrics",
    "GetCaller",
    "GetWorkflow",
    "GetSchedule",
    "ListSchedules",
    # A viewer reaches it; whether the caller may answer is the question's to say (its role,
    # operator unless the step says otherwise, or its principals): answers.may_answer.
    "ProvideInput",
)
_OPERATOR = (
    "StartRun",
    "RunWorkflow",
    "CancelRun",
    "ValidateWorkflow",
    "Chat",
    "ChatStream",
    "CreateSchedule",
    "PauseSchedule",
    "ResumeSchedule",
    "TriggerSchedule",
    "DeleteSchedule",
)
# ApplyWorkflow is not listed: registering a workflow changes what every caller runs by name, an
# admin's call.

#: A2A (lf.a2a.v1.A2AService), on every binding: reading tasks is a viewer's, sending messages
#: (which start runs or answer them) and cancelling an operator's.
_A2A = "/lf.a2a.v1.A2AService/"
_A2A_VIEWER = ("GetTask", "ListTasks", "SubscribeToTask", "GetExtendedAgentCard")
_A2A_OPERATOR = ("SendMessage", "SendStreamingMessage", "CancelTask")
#: MCP (tools/list and reading runs are a viewer's, running a workflow an operator's).
MCP_VIEWER, MCP_OPERATOR = "/mcp/read", "/mcp/run"

#: The role each method needs; a method not listed needs admin, so a new RPC is closed until
#: someone decides otherwise.
METHOD_ROLES: dict[str, Role] = {
    **{_SERVICE + method: Role.VIEWER for method in _VIEWER},
    **{_SERVICE + method: Role.OPERATOR for method in _OPERATOR},
    **{_A2A + method: Role.VIEWER for method in _A2A_VIEWER},
    **{_A2A + method: Role.OPERATOR for method in _A2A_OPERATOR},
    MCP_VIEWER: Role.VIEWER,
    MCP_OPERATOR: Role.OPERATOR,
}

#: Methods anyone may call, token or not.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
