"""Prometheus metrics of an agentmesh process, on a port of their own (off unless asked for).

gRPC server metrics use go-grpc-prometheus's names and labels, the de-facto standard that
dashboards and alerts already query (`grpc_server_handled_total{grpc_service, grpc_method,
grpc_code}`, `grpc_server_handling_seconds`), codes spelled as grpc-go spells them (`OK`,
`InvalidArgument`, `Canceled`) so one query covers every runtime; the Go and TypeScript kits write
the same series in the text format themselves. LLM usage is
`agentmesh_llm_tokens_total{provider, kind}` in every runtime.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import grpc
from prometheus_client import Counter, Histogram, make_wsgi_app

log = logging.getLogger("agentmesh.metrics")

METRICS_PORT_ENV = "AGENTMESH_METRICS_PORT"

STARTED = Counter(
    "grpc_server_started_total",
    "RPCs started on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
)
HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_type", "grpc_service", "grpc_method", "grpc_code"],
)
HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time from an RPC's start to its status, on the server.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
EVENT_LOOP_LAG = Histogram(
    "agentmesh_event_loop_lag_seconds",
    "How late the asyncio event loop woke a timer, sampled every 25 ms: how long callbacks held it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
#: How often the event loop's lag is sampled (a timer; 40 wake-ups a second cost nothing measurable).
LAG_SAMPLE_SECONDS = 0.025
LLM_TOKENS = Counter(
    "agentmesh_llm_tokens_total",
    "Tokens an LLM provider reported, by provider and kind (prompt or output).",
    ["provider", "kind"],
)


async def follow_event_loop(interval: float = LAG_SAMPLE_SECONDS) -> None:
    """Observe, until cancelled, how late the running loop wakes a timer due every `interval`:
    nothing else shows a callback that holds the loop (every other series is timed by it)."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        EVENT_LOOP_LAG.observe(max(0.0, loop.time() - due))


def count_tokens(provider: str, prompt: int, output: int) -> None:
    if prompt:
        LLM_TOKENS.labels(provider, "prompt").inc(prompt)
    if output:
        LLM_TOKENS.labels(provider, "output").inc(output)


def metrics_port(value: str | None, env: Mapping[str, str] = os.environ) -> int | None:
    """The port asked for (flag first, then AGENTMESH_METRICS_PORT); None: no metrics endpoint."""
    text = value if value not in (None, "") else env.get(METRICS_PORT_ENV, "")
    if not text:
        return None
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"the metrics port must be a number, not {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"the metrics port must be 0..65535, not {port}")
    return port


def serve_metrics(host: str, port: int, ready: Callable[[], bool] = lambda: True) -> int:
    """Serve /metrics (Prometheus text format) on host:port from a thread; the bound port.

    The same port answers /healthz (200 while the process runs) and /readyz (200 while `ready`
    says so, 503 once the server drains): HTTP probes for a kubelet that cannot speak TLS to the
    gRPC port, whose native gRPC probes are plaintext only."""
    metrics = make_wsgi_app()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            ok = path == "/healthz" or ready()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"draining\n"]
        if path != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        return metrics(environ, start_response)

    address = host.strip("[]")
    # IPv4 or IPv6 as the host is ("[::]", a pod's usual, is IPv6 and dual-stack).
    family = socket.getaddrinfo(address or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
    server_class = _ThreadingWSGIServer6 if family == socket.AF_INET6 else _ThreadingWSGIServer
    server = make_server(address, port, app, server_class, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    bound = int(server.server_address[1])
    log.info("metrics listening", extra={"address": f"{host}:{bound}", "port": bound, "path": "/metrics"})
    return bound


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingWSGIServer6(_ThreadingWSGIServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ServerMetrics(grpc.aio.ServerInterceptor):
    """Counts and times every unary-request RPC (what agentmesh serves; reflection is left out)."""

    def __init__(self) -> None:
        self._wrapped: dict[str, tuple[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Any]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = await continuation(handler_call_details)
        if handler is None or handler.request_streaming:
            return handler
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = _wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped


def _wrap(method: str, handler: Any) -> Any:
    service, _, name = method.lstrip("/").rpartition("/")
    kind = "server_stream" if handler.response_streaming else "unary"
    labels = (kind, service, name)
    started, timing = STARTED.labels(*labels), HANDLING.labels(*labels)
    codec = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }

    @contextmanager
    def observed(context: Any) -> Iterator[None]:
        """One call counted, timed, and counted again by the status it ends with."""
        started.inc()
        begun = time.perf_counter()
        code = None
        try:
            yield
        except (asyncio.CancelledError, GeneratorExit):
            code = "Canceled"
            raise
        except BaseException:
            code = "Unknown"
            raise
        finally:
            timing.observe(time.perf_counter() - begun)
            HANDLED.labels(*labels, code or _code_of(context)).inc()

    unary, streaming = handler.unary_unary, handler.unary_stream
    if inspect.iscoroutinefunction(unary):

        async def unary_call(request: Any, context: Any) -> Any:
            with observed(context):
                return await unary(request, context)

        return grpc.unary_unary_rpc_method_handler(unary_call, **codec)
    if inspect.isasyncgenfunction(streaming):

        async def stream_call(request: Any, context: Any) -> AsyncIterator[Any]:
            with observed(context):
                async for response in streaming(request, context):
                    yield response

        return grpc.unary_stream_rpc_method_handler(stream_call, **codec)
    if inspect.iscoroutinefunction(streaming):  # context.write()-style streams (health's Watch)

        async def written_call(request: Any, context: Any) -> None:
            with observed(context):
                await streaming(request, context)

        return grpc.unary_stream_rpc_method_handler(written_call, **codec)
    return handler


def code_label(code: grpc.StatusCode) -> str:
    """A status code as go-grpc-prometheus labels it (grpc-go's code names: InvalidArgument, Canceled)."""
    return _GO_NAMES[code]


_GO_NAMES = {
    code: "OK" if code is grpc.StatusCode.OK else "".join(part.title() for part in code.name.split("_"))
    for code in grpc.StatusCode
}
_GO_NAMES[grpc.StatusCode.CANCELLED] = "Canceled"


def _code_of(context: Any) -> str:
    """The status the handler set (set_code / an abort), else OK."""
    code = context.code()
    if code is None:
        return "OK"
    if isinstance(code, grpc.StatusCode):
        return code_label(code)
    for status in grpc.StatusCode:
        if status.value[0] == code:
            return code_label(status)
    return "Unknown"
