"""The transcoder: each HTTP request on a bound path becomes a call of the gRPC servicer.

For a request it finds the binding (verb and path template), checks the caller's role for the
binding's gRPC method (the role table is the gRPC port's), builds the request message from the
path, the query string and the body, refuses it if a REQUIRED field is missing (as the gRPC
host does), and calls the servicer's method with an `HttpContext`. A unary answer is its
response as ProtoJSON; a failed call the problem its status stands for; a server stream becomes
server-sent events (`rest.streams`).

Before any of that: a body larger than the gRPC port's largest message is refused (413), and so
is a state-changing request a web page of another origin sends (its `Origin` is neither the
gateway's nor one given with --http-cors-origin: a form can POST across origins without asking
anybody); a gateway without tokens that listens on loopback answers only requests that name a
loopback host (a DNS-rebinding page must not reach it through a name of its own).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import grpc
from google.protobuf.descriptor import ServiceDescriptor
from google.protobuf.message import Message
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from agentmesh.channels import DEFAULT_MAX_MESSAGE_BYTES
from agentmesh.descriptors import documented_files
from agentmesh.errors import (
    AgentMeshError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unavailable,
)
from agentmesh.logs import Throttle
from agentmesh.required import check_required
from agentmesh.status import Answered, internal_status
from agentmesh_gateway.auth import authorize, current_principal
from agentmesh_gateway.http.problems import error_problem, status_problem
from agentmesh_gateway.rest.bindings import Binding, PathTemplate, service_bindings
from agentmesh_gateway.rest.codec import CURSOR_ALIAS, CURSOR_FIELD, build_request, dumps, to_json
from agentmesh_gateway.rest.context import HttpContext
from agentmesh_gateway.rest.frames import NDJSON, SSE
from agentmesh_gateway.rest.openapi import OPENAPI_PATH, openapi_document
from agentmesh_gateway.rest.schemas import Docs
from agentmesh_gateway.rest.streams import (
    ANSWERED,
    DEFAULT_HEARTBEAT_SECONDS,
    EventStream,
    Streams,
    first_item,
)

log = logging.getLogger("agentmesh.gateway.rest")

LAST_EVENT_ID = "last-event-id"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
#: At most one "request refused" line per binding per this many seconds (callers provoke them).
REFUSED_LOG_INTERVAL = 10.0


@dataclasses.dataclass(frozen=True)
class RestOptions:
    #: Origins a browser page may call from (--http-cors-origin).
    cors_origins: Sequence[str] = ()
    #: The gateway checks bearer tokens.
    authenticated: bool = False
    #: It listens on loopback only.
    loopback: bool = True
    heartbeat: float = DEFAULT_HEARTBEAT_SECONDS
    max_body_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    #: The gateway's version, which the OpenAPI document states.
    version: str = "0.0.0"


class RestSurface:
    def __init__(self, servicer: object, service: ServiceDescriptor, options: RestOptions) -> None:
        self._servicer = servicer
        self._options = options
        self.bindings = service_bindings(service)
        # Bindings by template, most specific first: one path, several verbs.
        self._paths: dict[str, tuple[PathTemplate, dict[str, Binding]]] = {}
        for binding in self.bindings:
            _, verbs = self._paths.setdefault(binding.template.text, (binding.template, {}))
            verbs.setdefault(binding.verb, binding)
        self._roots = {binding.template.root for binding in self.bindings}
        self._streams = Streams(options.heartbeat)
        self._refusals = {binding.full_method: Throttle(REFUSED_LOG_INTERVAL) for binding in self.bindings}
        self._openapi: bytes | None = None

    def routes(self) -> list[BaseRoute]:
        return [Route(OPENAPI_PATH, self._openapi_document, methods=["GET"]), _RestRoute(self)]

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of these bindings."""
        return openapi_document(
            self.bindings,
            Docs(documented_files().values()),
            title="agentmesh gateway",
            version=self._options.version,
            authenticated=self._options.authenticated,
        )

    async def _openapi_document(self, request: Request) -> Response:
        if self._openapi is None:  # made on first use: the descriptors' comments are read then
            self._openapi = dumps(self.openapi())
        return Response(self._openapi, media_type="application/json")

    # --- the HTTP server's companion: open streams end when it stops ----------------------------

    async def start(self) -> None:
        self._streams.start()

    async def stop(self) -> None:
        """End every open stream (its client resumes elsewhere, or after the restart, from the
        last event id it got), so that the server stops without waiting for them."""
        await self._streams.stop()

    # --- routing ------------------------------------------------------------------------------

    def find(self, raw_path: str, verb: str) -> Found:
        """FULL with the binding and its path variables; PARTIAL when the path is this API's but
        not under that verb (405, `allowed` says which) or not at all (404); NONE when the path
        is not this API's. The first template that matches decides: the most specific."""
        for template, verbs in self._paths.values():
            variables = template.match(raw_path)
            if variables is not None:
                binding = verbs.get(verb)
                if binding is not None:
                    return Found(Match.FULL, binding, variables)
                return Found(Match.PARTIAL, allowed=sorted(verbs))
        root = raw_path.lstrip("/").split("/", 1)[0].split(":", 1)[0]
        return Found(Match.PARTIAL if root in self._roots else Match.NONE)

    async def answer(self, request: Request) -> Response | EventStream:
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        found = self.find(raw_path, request.method)
        binding, variables = found.binding, found.variables
        if binding is None:
            return _unrouted(found.allowed)
        try:
            self._admit(request, binding)
            message = await self._request(request, binding, variables)
        except AgentMeshError as exc:
            return self._refused(binding, exc)
        context = HttpContext(request.scope.get("headers", ()), _peer(request))
        handler: Callable[[Message, HttpContext], Any] = getattr(self._servicer, binding.method.name)
        if binding.streaming:
            try:
                stream = handler(message, context)
            except NotImplementedError:  # the generated servicer's answer to a method not served
                return status_problem(context.status or internal_status()).response()
            return await self._stream(stream, context, request)
        try:
            response = await handler(message, context)
        except (Answered, NotImplementedError):
            response = None  # the status is set on the context
        except Exception:
            log.exception("rpc failed unexpectedly", extra={"method": binding.full_method})
            context.set_status(internal_status())
        status = context.status
        if status is not None or not isinstance(response, Message):
            return status_problem(status or internal_status()).response()
        payload = getattr(response, binding.response_body) if binding.response_body else response
        return Response(to_json(payload), media_type="application/json")

    # --- checks and the request ---------------------------------------------------------------

    def _admit(self, request: Request, binding: Binding) -> None:
        options = self._options
        if not options.authenticated and options.loopback and _host_name(request) not in _LOOPBACK_NAMES:
            raise PermissionDenied(
                "this gateway checks no tokens and answers only requests to a loopback name"
                " (localhost, 127.0.0.1, [::1])",
                reason="HOST_NOT_ALLOWED",
            )
        origin = request.headers.get("origin")
        if origin is not None and request.method not in _SAFE_METHODS:
            own = f"{request.url.scheme}://{request.headers.get('host', '')}"
            if origin != own and origin not in options.cors_origins:
                raise PermissionDenied(
                    "a web page of another origin may not call this gateway; give its origin with"
                    " --http-cors-origin to allow it",
                    reason="ORIGIN_NOT_ALLOWED",
                )
        principal = current_principal.get()
        if principal is not None:
            authorize(principal, binding.full_method)
        if self._streams.stopping and binding.streaming:
            raise Unavailable("the gateway is stopping; resume on another replica or after its restart")

    async def _request(
        self, request: Request, binding: Binding, variables: dict[tuple[str, ...], str]
    ) -> Message:
        body = await self._body(request)
        fields = binding.method.input_type.fields_by_name
        cursor = binding.streaming and CURSOR_FIELD in fields
        aliases = {CURSOR_ALIAS: CURSOR_FIELD} if cursor else {}
        message = build_request(binding, body, request.query_params.multi_items(), variables, aliases)
        last_event = request.headers.get(LAST_EVENT_ID)
        if cursor and last_event is not None:
            if not last_event.isdigit():
                raise InvalidInput.field("Last-Event-ID", "must be the sequence number of an event")
            setattr(message, CURSOR_FIELD, int(last_event))
        check_required(message)
        return message

    async def _body(self, request: Request) -> bytes:
        limit = self._options.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(limit)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        return b"".join(chunks)

    def _refused(self, binding: Binding, error: AgentMeshError) -> Response:
        problem = error_problem(error)
        if isinstance(error, ResourceExhausted) and error.reason == "REQUEST_TOO_LARGE":
            problem = dataclasses.replace(problem, status=413, body=problem.body | {"status": 413})
        held = self._refusals[binding.full_method].admit()
        if held is not None:
            fields = {"method": binding.full_method, "code": error.code.name, "reason": error.reason}
            log.warning("http request refused", extra=fields | {"suppressed": held})
        return problem.response()

    # --- streams ------------------------------------------------------------------------------

    async def _stream(self, stream: Any, context: HttpContext, request: Request) -> Response | EventStream:
        first = await first_item(stream, context)
        if first.done():
            failed = first.exception()
            if failed is not None:  # refused before it opened: an HTTP status, not an event
                if not isinstance(failed, ANSWERED):
                    log.error("stream failed", exc_info=failed)
                    context.set_status(internal_status())
                return status_problem(context.status or internal_status()).response()
        media_type = NDJSON if NDJSON in request.headers.get("accept", "") else SSE
        return EventStream(self._streams, stream, first, context, media_type)


@dataclasses.dataclass(frozen=True)
class Found:
    match: Match
    binding: Binding | None = None
    variables: dict[tuple[str, ...], str] = dataclasses.field(default_factory=dict)
    #: The verbs the path takes, when it is found under another.
    allowed: list[str] = dataclasses.field(default_factory=list)


def _unrouted(allowed: list[str]) -> Response:
    if not allowed:
        return error_problem(NotFound("no such path in this API", reason="NO_SUCH_PATH")).response()
    # As grpc-gateway answers it: UNIMPLEMENTED, under HTTP's own status for it.
    error = AgentMeshError(
        f"this path takes {', '.join(allowed)}",
        reason="METHOD_NOT_ALLOWED",
        code=grpc.StatusCode.UNIMPLEMENTED,
    )
    problem = error_problem(error)
    response = dataclasses.replace(problem, status=405, body=problem.body | {"status": 405}).response()
    response.headers["Allow"] = ", ".join(allowed)
    return response


class _RestRoute(BaseRoute):
    """One route for every binding, so that a path under the wrong verb is a 405 and an unknown
    path of this API a 404, both problems, while other surfaces' paths pass by."""

    def __init__(self, surface: RestSurface) -> None:
        self._surface = surface

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        raw_path = scope.get("raw_path", b"").decode("latin-1") or scope["path"]
        return self._surface.find(raw_path, scope["method"]).match, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> Any:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self._surface.answer(Request(scope, receive))
        await response(scope, receive, send)


def _too_large(limit: int) -> ResourceExhausted:
    return ResourceExhausted(
        f"the request body is larger than {limit:,} bytes, the gateway's largest message",
        reason="REQUEST_TOO_LARGE",
        metadata={"max_bytes": str(limit)},
    )


def _host_name(request: Request) -> str:
    host = request.headers.get("host", "")
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _peer(request: Request) -> str:
    client = request.client
    if client is None:
        return ""
    return (
        f"ipv6:[{client.host}]:{client.port}" if ":" in client.host else f"ipv4:{client.host}:{client.port}"
    )
