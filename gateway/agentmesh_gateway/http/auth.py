"""Who calls the HTTP port: the bearer token of every request, checked as the gRPC port checks it.

A pure ASGI middleware (it must not buffer server-sent events): it authenticates the request's
`Authorization: Bearer` token with the gateway's Gatekeeper and makes the principal current for
the request, so that the surfaces below check roles per operation (`auth.authorize`) and the
engine keeps tenants apart, exactly as on gRPC. Agent cards are open, as reflection is.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from agentmesh.errors import AgentMeshError
from agentmesh_gateway.auth import Gatekeeper, bearer_token, current_principal
from agentmesh_gateway.http.problems import problem_response


class BearerAuth:
    def __init__(self, app: ASGIApp, gatekeeper: Gatekeeper | None, is_open: Callable[[str], bool]) -> None:
        """`is_open(path)`: whether a path needs no token (agent cards)."""
        self._app = app
        self._gatekeeper = gatekeeper
        self._is_open = is_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._gatekeeper is None or self._is_open(scope["path"]):
            await self._app(scope, receive, send)
            return
        header = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None)
        try:
            principal = self._gatekeeper.authenticate(bearer_token(header))
        except AgentMeshError as exc:
            response = problem_response(exc)
            response.headers["WWW-Authenticate"] = 'Bearer realm="agentmesh"'
            await response(scope, receive, send)
            return
        token = current_principal.set(principal)
        try:
            await self._app(scope, receive, send)
        finally:
            current_principal.reset(token)
