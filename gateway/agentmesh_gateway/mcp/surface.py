"""`/mcp` on the gateway's HTTP port: the MCP SDK's streamable HTTP transport over `McpTools`.

Sessions are kept (the SDK's StreamableHTTPSessionManager, stateful): a client on a handshake
protocol version cancels a call with `notifications/cancelled`, a POST of its own that only a
session can route to the call it names. Clients on 2026-07-28 send each request on its own, no
session, and cancel by closing the response stream; the same manager serves both.

The manager runs a task group for the sessions, which uvicorn (lifespan off) does not start: the
surface is a companion of the gateway's HTTP server, started before it serves and stopped first
when it stops, marking the calls it interrupts as the gateway's doing (their runs go on).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from mcp.server import Server
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import INTERNAL_ERROR
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from agentmesh_gateway.auth import current_principal
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.limits import MAX_RUN_INPUT_BYTES
from agentmesh_gateway.mcp.tools import PRINCIPAL_SCOPE_KEY, McpTools

log = logging.getLogger("agentmesh.gateway.mcp")

MCP_PATH = "/mcp"
#: A request body: a tool call's arguments are a run's inputs, with room for JSON's escapes.
MAX_REQUEST_BYTES = 2 * MAX_RUN_INPUT_BYTES + 64 * 1024
#: Sessions open at once, and how long one may stay idle (no request in flight) before it ends.
MAX_SESSIONS = 10_000
SESSION_IDLE_SECONDS = 30 * 60
#: Seconds the sessions get to end when the gateway stops.
STOP_SECONDS = 5.0
INSTRUCTIONS = (
    "agentmesh runs workflows of agents. Each tool other than get_run, list_runs and cancel_run runs "
    "the workflow it is named after with the arguments as its inputs, follows the run to its end and "
    "returns its outputs; the run's id is in the result's _meta (agentmesh/run_id) and in the first "
    "progress message. Cancelling the call cancels the run."
)
_LOOPBACK_HOSTS = ["127.0.0.1", "127.0.0.1:*", "localhost", "localhost:*", "[::1]", "[::1]:*"]
_LOOPBACK_ORIGINS = [f"{scheme}://{host}" for scheme in ("http", "https") for host in _LOOPBACK_HOSTS]


class McpSurface:
    def __init__(
        self,
        engine: Engine,
        *,
        version: str,
        tenant_isolation: bool,
        authenticated: bool,
        loopback: bool,
    ) -> None:
        """`authenticated`: the gateway checks bearer tokens. `loopback`: it listens on loopback
        only; without authentication, requests must then name a loopback host (DNS rebinding: a
        web page must not reach a local gateway through a name of its own)."""
        self._tools = McpTools(engine, tenant_isolation=tenant_isolation, authenticated=authenticated)
        server: Server[dict[str, Any]] = Server(
            "agentmesh",
            version=version,
            title="agentmesh gateway",
            instructions=INSTRUCTIONS,
            on_list_tools=self._tools.list_tools,
            on_call_tool=self._tools.call_tool,
            # No tool declares Mcp-Param headers: nothing to check them against.
            get_tool_input_schema=lambda name: None,
        )
        security = None
        if loopback and not authenticated:
            security = TransportSecuritySettings(
                enable_dns_rebinding_protection=True,
                allowed_hosts=_LOOPBACK_HOSTS,
                allowed_origins=_LOOPBACK_ORIGINS,
            )
        self._manager = StreamableHTTPSessionManager(
            app=server,
            stateless=False,
            json_response=False,  # SSE: progress notifications, and a closed stream is a cancel
            security_settings=security,
            max_request_body_size=MAX_REQUEST_BYTES,
            session_idle_timeout=SESSION_IDLE_SECONDS,
            max_sessions=MAX_SESSIONS,
        )
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._serving = False
        self._posts = 0
        self._answered = asyncio.Event()
        self._answered.set()

    def routes(self) -> list[BaseRoute]:
        return [Route(MCP_PATH, _Endpoint(self))]

    @property
    def serving(self) -> bool:
        return self._serving

    async def start(self) -> None:
        """Start the session manager's task group (in a task of its own, which owns it)."""
        if self._task is not None:
            return
        if not log.isEnabledFor(logging.DEBUG):
            logging.getLogger("mcp").setLevel(logging.WARNING)  # the SDK says INFO for each session
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._run(ready), name="mcp-sessions")
        async with asyncio.timeout(10):
            while not ready.is_set():
                if self._task.done():
                    self._task.result()  # raises what stopped it
                    raise RuntimeError("the MCP session manager stopped at once")
                await asyncio.sleep(0.01)
        self._serving = True

    async def _run(self, ready: asyncio.Event) -> None:
        async with self._manager.run():
            ready.set()
            await self._stop.wait()

    async def stop(self) -> None:
        """Answer the calls in flight (their runs go on), then end every session."""
        if self._task is None:
            return
        self._serving = False
        self._tools.stop_following()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_SECONDS):
                await self._answered.wait()  # each call's POST has sent its answer
        self._stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(asyncio.shield(self._task), STOP_SECONDS)
        if not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._serving:
            await _unavailable(scope, receive, send)
            return
        principal = current_principal.get()  # BearerAuth's, for this request
        scope[PRINCIPAL_SCOPE_KEY] = principal
        if principal is not None:
            # A session answers only requests of the principal that opened it.
            token = AccessToken(token="", client_id=principal.name, scopes=[principal.role.label])
            scope["user"] = AuthenticatedUser(token)
        # POSTs carry the calls (a GET is a session's stream of notifications, open as long as it).
        post = scope.get("method") == "POST"
        if post:
            self._posts += 1
            self._answered.clear()
        try:
            await self._manager.handle_request(scope, receive, send)
        finally:
            if post:
                self._posts -= 1
                if not self._posts:
                    self._answered.set()


class _Endpoint:
    """An ASGI app (not a function: Starlette would call a function with a Request)."""

    def __init__(self, surface: McpSurface) -> None:
        self._surface = surface

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._surface.handle(scope, receive, send)


async def _unavailable(scope: Scope, receive: Receive, send: Send) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": INTERNAL_ERROR, "message": "the gateway is stopping"},
    }
    response = Response(json.dumps(body), status_code=503, media_type="application/json")
    await response(scope, receive, send)
