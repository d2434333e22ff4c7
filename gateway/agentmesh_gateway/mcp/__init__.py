"""MCP on the gateway's HTTP port: the workflows as tools, over streamable HTTP at `/mcp`.

`tools/list` offers each workflow as a tool named after it, with an input schema from its declared
inputs and an output schema from its outputs, and `get_run`, `list_runs` and `cancel_run`.
Calling a workflow's tool starts a run, follows it (progress notifications from its steps) and
answers with its outputs as structured content; cancelling the call cancels the run.

Callers are authenticated by the HTTP port's bearer tokens (`http.auth.BearerAuth`); listing
tools and reading runs need a viewer, running and cancelling an operator (`MCP_VIEWER`,
`MCP_OPERATOR`), and tenant isolation holds as on every surface: all of it is the engine's API,
called as the request's principal.
"""

from agentmesh_gateway.mcp.surface import MCP_PATH, McpSurface

__all__ = ["MCP_PATH", "McpSurface"]
