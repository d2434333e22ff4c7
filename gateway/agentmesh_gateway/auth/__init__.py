"""Who may call the gateway, and what each caller may do.

A call carries a bearer token in its `authorization` metadata. The gateway accepts
static API tokens (stored as SHA-256 hashes in a file or Secret, `static_tokens`) and
OIDC/JWT access tokens verified against a JWKS file (`jwt_tokens`); the `Gatekeeper`
(`gatekeeper`) tries them in turn and checks the caller's role against the method:

    viewer    GetRun, ListRuns, WatchRun, ListAgents, ListWorkflows, GetMetrics, WatchMetrics,
              ProvideInput (then the question decides: operators unless it names a role or principals)
    operator  all of the above, and StartRun, RunWorkflow, CancelRun, ValidateWorkflow, Chat, schedules
    admin     everything, and with tenant isolation on, every principal's runs

The same tokens and roles hold on the HTTP port (`Authorization: Bearer`): an A2A call is
checked as its A2AService method whatever its binding, MCP as reading or running.

Health checks need no token (probes carry none); reflection neither, since it
describes the contract, not anybody's data. Without any authentication configured the
gateway admits every call, as it did before, and says so at start-up.
"""

from agentmesh_gateway.auth.gatekeeper import AuthConfig, Gatekeeper, authorize, bearer_token
from agentmesh_gateway.auth.principal import (
    MCP_OPERATOR,
    MCP_VIEWER,
    Principal,
    Role,
    caller_name,
    current_principal,
    visible_owner,
)

__all__ = [
    "MCP_OPERATOR",
    "MCP_VIEWER",
    "AuthConfig",
    "Gatekeeper",
    "Principal",
    "Role",
    "authorize",
    "bearer_token",
    "caller_name",
    "current_principal",
    "visible_owner",
]
