"""A2A on the gateway's two ports: a2a-sdk's JSON-RPC and HTTP+JSON routes and agent cards on the
HTTP port, its gRPC servicer (lf.a2a.v1.A2AService) on the gRPC port, all over one handler.

HTTP: the mesh's card at `/.well-known/agent-card.json` and its endpoints at `/a2a`; each
exposed agent's card at `/a2a/workflows/NAME/.well-known/agent-card.json` (or `agents/NAME`),
its JSON-RPC endpoint at `/a2a/workflows/NAME` and HTTP+JSON under it. The role an A2A call
needs is checked here for HTTP, by the method it names (JSON-RPC) or its route (HTTP+JSON), and
by the gateway's guard for gRPC: the same table either way.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import grpc
from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.grpc_handler import DefaultGrpcServerCallContextBuilder, GrpcHandler
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_jsonrpc_routes, create_rest_routes
from a2a.server.routes.common import DefaultServerCallContextBuilder
from a2a.types import a2a_pb2 as a2a
from a2a.types import a2a_pb2_grpc
from a2a.utils.constants import PROTOCOL_VERSION_0_3, PROTOCOL_VERSION_CURRENT, VERSION_HEADER
from a2a.utils.errors import VersionNotSupportedError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from agentmesh.errors import AgentMeshError, echo
from agentmesh.server import Service
from agentmesh_gateway.a2a.cards import Cards, Endpoints
from agentmesh_gateway.a2a.targets import Kind, Target
from agentmesh_gateway.auth import authorize, current_principal
from agentmesh_gateway.http.problems import problem_response

A2A_SERVICE = "lf.a2a.v1.A2AService"
_VERSION_KEY = VERSION_HEADER.lower()
_METHOD = f"/{A2A_SERVICE}/"
#: HTTP+JSON routes (a suffix of the path, and the HTTP method) by the A2A method they stand for.
_REST_OPERATIONS = (
    ("/message:send", "POST", "SendMessage"),
    ("/message:stream", "POST", "SendStreamingMessage"),
    (":cancel", "POST", "CancelTask"),
    (":subscribe", "GET", "SubscribeToTask"),
    (":subscribe", "POST", "SubscribeToTask"),
    ("/extendedAgentCard", "GET", "GetExtendedAgentCard"),
    ("/tasks", "GET", "ListTasks"),
)

#: How long a client may keep a card without asking again.
CARD_MAX_AGE_SECONDS = 60

Endpoint = Callable[[Request], Awaitable[Response]]
KINDS: tuple[Kind, ...] = ("workflows", "agents")


class _TargetContext(DefaultServerCallContextBuilder):
    """The call's context, naming the agent its URL addresses (none: the mesh's own endpoint)."""

    def __init__(self, kind: Kind | None) -> None:
        self._kind = kind

    def build(self, request: Request) -> ServerCallContext:
        context = super().build(request)
        name = request.path_params.get("name")
        if self._kind is not None and name:
            context.state["agentmesh.target"] = Target(self._kind, name)
        return context


def a2a_routes(
    handler: RequestHandler, cards: Cards, grpc_port: Callable[[], int], *, authenticated: bool
) -> list[BaseRoute]:
    def endpoints(request: Request) -> Endpoints:
        host = request.url.hostname or "127.0.0.1"
        return Endpoints(str(request.base_url).rstrip("/"), f"{host}:{grpc_port()}")

    async def mesh_card(request: Request) -> Response:
        return card_response(request, cards.mesh_card(endpoints(request)))

    def target_card(kind: Kind) -> Endpoint:
        async def card(request: Request) -> Response:
            try:
                found = cards.card(Target(kind, request.path_params["name"]), endpoints(request))
            except AgentMeshError as exc:
                return problem_response(exc)
            return card_response(request, found)

        return card

    def bindings(path: str, kind: Kind | None) -> list[BaseRoute]:
        """JSON-RPC at `path` itself (and at `path/`: clients that join a path onto the card's URL
        as a base, as httpx's base_url does, post there), HTTP+JSON under it."""
        context = _TargetContext(kind)
        jsonrpc = [
            _guarded(r, authenticated, jsonrpc=True)
            for url in (path, f"{path}/")
            for r in create_jsonrpc_routes(handler, url, context)
        ]
        rest = [_guarded(r, authenticated, jsonrpc=False) for r in create_rest_routes(handler, context)]
        return [*jsonrpc, Mount(path, routes=rest)]

    routes: list[BaseRoute] = [Route("/.well-known/agent-card.json", mesh_card, methods=["GET"])]
    for kind in KINDS:
        routes.append(
            Route(f"/a2a/{kind}/{{name}}/.well-known/agent-card.json", target_card(kind), methods=["GET"])
        )
        routes += bindings(f"/a2a/{kind}/{{name}}", kind)
    routes += bindings("/a2a", None)
    return routes


def card_response(request: Request, card: a2a.AgentCard) -> Response:
    """A card, with the caching headers A2A asks for (§8.6.1): a max-age short enough that an
    agent joining or leaving the mesh shows soon, and an ETag of its content, which a client
    revalidates with If-None-Match (answered 304 while the card is unchanged)."""
    response = JSONResponse(agent_card_to_dict(card))
    etag = f'"{hashlib.sha256(response.body).hexdigest()[:32]}"'
    headers = {
        "Cache-Control": f"max-age={CARD_MAX_AGE_SECONDS}",
        "ETag": etag,
        "Last-Modified": format_datetime(_first_served(etag), usegmt=True),
    }
    response.headers.update(headers)
    wanted = {tag.strip().removeprefix("W/") for tag in request.headers.get("if-none-match", "").split(",")}
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return response


#: When this gateway first served each card content (by ETag): its Last-Modified. Bounded: a
#: content not served for long is forgotten, and is new again if it comes back.
_FIRST_SERVED: OrderedDict[str, datetime] = OrderedDict()
_FIRST_SERVED_KEPT = 1024


def _first_served(etag: str) -> datetime:
    when = _FIRST_SERVED.pop(etag, None) or datetime.now(UTC).replace(microsecond=0)
    _FIRST_SERVED[etag] = when
    while len(_FIRST_SERVED) > _FIRST_SERVED_KEPT:
        _FIRST_SERVED.popitem(last=False)
    return when


def _guarded(route: BaseRoute, authenticated: bool, *, jsonrpc: bool) -> BaseRoute:
    """The route, checking first that the caller's role may call the A2A method it stands for."""
    if not authenticated or not isinstance(route, Route):
        return route
    endpoint = route.endpoint

    async def checked(request: Request) -> Response:
        method = await _jsonrpc_method(request) if jsonrpc else _rest_method(request)
        principal = current_principal.get()
        if method is not None and principal is not None:
            try:
                authorize(principal, _METHOD + method)
            except AgentMeshError as exc:
                return problem_response(exc)
        answered: Response = await endpoint(request)
        return answered

    return Route(route.path, checked, methods=list(route.methods or ()))


async def _jsonrpc_method(request: Request) -> str | None:
    """The A2A method a JSON-RPC request names (the dispatcher answers a body that names none)."""
    try:
        body = json.loads(await request.body())  # kept by the request: the dispatcher reads it again
    except ValueError:
        return None
    return str(body.get("method")) if isinstance(body, dict) else None


def _rest_method(request: Request) -> str | None:
    """The A2A method an HTTP+JSON route stands for."""
    path = request.url.path
    for suffix, verb, method in _REST_OPERATIONS:
        if request.method == verb and path.endswith(suffix):
            return method
    if request.method == "GET" and "/tasks/" in path:
        return "GetTask"
    return "PushNotificationConfig" if "pushNotificationConfigs" in path else None


class _VersionedContext(DefaultGrpcServerCallContextBuilder):
    """The context of a gRPC call that asks for a version of A2A this binding speaks.

    A2A §3.6.2: an agent processes a request with the semantics of the version it names (the
    `a2a-version` metadata, its first value, as an HTTP header is read) and refuses one it does
    not speak with VersionNotSupportedError; no version means 0.3. The HTTP bindings check this
    in a2a-sdk's routes; its gRPC servicer does not, so here: its errors are A2A's from here on.
    """

    def build(self, context: grpc.aio.ServicerContext[Any, Any]) -> ServerCallContext:
        versions = [v for k, v in context.invocation_metadata() or () if k.lower() == _VERSION_KEY]
        requested = str(versions[0]) if versions else ""
        if requested.split(".")[0] != PROTOCOL_VERSION_CURRENT.split(".")[0]:
            raise VersionNotSupportedError(
                f"A2A version {echo(requested or PROTOCOL_VERSION_0_3)} is not supported: this"
                f" interface speaks {PROTOCOL_VERSION_CURRENT} (send it as {_VERSION_KEY} metadata)"
            )
        return super().build(context)


def a2a_service(handler: RequestHandler) -> Service:
    """lf.a2a.v1.A2AService for the gateway's gRPC host, routed by A2A's tenant field."""
    servicer = GrpcHandler(handler, _VersionedContext())

    def register(server: grpc.aio.Server) -> None:
        a2a_pb2_grpc.add_A2AServiceServicer_to_server(servicer, server)  # type: ignore[no-untyped-call]

    return Service(A2A_SERVICE, register)
