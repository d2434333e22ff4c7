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

_SERVICE = "/agentmesh.v1.OrchestratorService/"
_VIEWER = ("GetRun", "ListRuns", "WatchRun", "ListAgents", "ListWorkflows", "GetMetrics", "WatchMetrics")
_OPERATOR = ("StartRun", "RunWorkflow", "CancelRun", "ProvideInput", "ValidateWorkflow", "Chat", "ChatStream")

#: The role each method needs; a method not listed needs admin, so a new RPC is closed until
#: someone decides otherwise.
METHOD_ROLES: dict[str, Role] = {
    **{_SERVICE + method: Role.VIEWER for method in _VIEWER},
    **{_SERVICE + method: Role.OPERATOR for method in _OPERATOR},
}

#: Methods anyone may call, token or not.
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")
