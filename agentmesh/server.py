"""A grpc.aio server as every agentmesh process runs it.

Whatever it serves, it also gets grpc.health.v1 (Check and Watch, for "" and for
each service), server reflection, OpenTelemetry spans, message size limits,
requests it cannot decode answered INVALID_ARGUMENT (see `agentmesh.calls`), and
a graceful stop: health goes NOT_SERVING first, so load balancers and Kubernetes
probes drain it, then in-flight calls get `grace` seconds to finish.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from opentelemetry import trace

from agentmesh import reflection
from agentmesh.calls import Guard, HostedCalls
from agentmesh.channels import DEFAULT_MAX_MESSAGE_BYTES, message_size_options
from agentmesh.descriptors import documented_pool
from agentmesh.drain import InFlight
from agentmesh.prometheus import ServerMetrics, follow_event_loop
from agentmesh.status import HostState
from agentmesh.telemetry import UNTRACED_SERVICES, server_interceptor, tracing_configured
from agentmesh.tls import ServerTLS, is_loopback

log = logging.getLogger("agentmesh.server")

DEFAULT_GRACE_SECONDS = 10.0
# Loopback unless told otherwise: a plaintext server on every interface is one flag away, and
# says so when it starts (see ServiceHost.start).
DEFAULT_HOST = "127.0.0.1"
# Time for open Watch streams to deliver NOT_SERVING before the server cuts them.
_FAREWELL_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Service:
    """A service to host: its full name and how to add its servicer to a server."""

    name: str
    register: Callable[[grpc.aio.Server], None]


# grpc's server sheds calls that have arrived but that the application has not picked up
# yet: some beyond 1,000, all beyond 3,000, as CANCELLED, which a caller cannot tell from a
# real cancellation. A for_each over a few thousand items is a burst of exactly that kind.
MAX_PENDING_CALLS = 20_000


# How long a client's connection to an agent lives before the agent asks it (GOAWAY) to
# reconnect: a client of dns:///name re-resolves the name then, and so reaches replicas added
# since (a Kubernetes scale-up). Calls already running get the grace to finish.
MAX_CONNECTION_AGE_ENV = "AGENTMESH_MAX_CONNECTION_AGE_S"
DEFAULT_MAX_CONNECTION_AGE_S = 60.0
MAX_CONNECTION_AGE_GRACE_S = 600.0


def max_connection_age_s(env: Mapping[str, str] = os.environ) -> float:
    """AGENTMESH_MAX_CONNECTION_AGE_S, every agentmesh runtime's setting (default 60 s)."""
    try:
        value = float(env.get(MAX_CONNECTION_AGE_ENV, DEFAULT_MAX_CONNECTION_AGE_S))
    except ValueError:
        return DEFAULT_MAX_CONNECTION_AGE_S
    return value if value > 0 else DEFAULT_MAX_CONNECTION_AGE_S


def server_options(
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, max_connection_age: float | None = None
) -> list[tuple[str, Any]]:
    # Without so_reuseport=0 a second server binds a busy port silently and steals half its calls.
    options: list[tuple[str, Any]] = [
        ("grpc.so_reuseport", 0),
        ("grpc.server.max_pending_requests", MAX_PENDING_CALLS // 2),
        ("grpc.server.max_pending_requests_hard_limit", MAX_PENDING_CALLS),
        *message_size_options(max_message_bytes),
    ]
    if max_connection_age is not None:
        options += [
            ("grpc.max_connection_age_ms", int(max_connection_age * 1000)),
            ("grpc.max_connection_age_grace_ms", int(MAX_CONNECTION_AGE_GRACE_S * 1000)),
        ]
    return options


class ServiceHost:
    """Hosts services on one port with health, reflection and tracing."""

    def __init__(
        self,
        services: Sequence[Service],
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        tracer_provider: trace.TracerProvider | None = None,
        subscriptions: Sequence[str] = (),
        max_connection_age: float | None = None,
        tls: ServerTLS | None = None,
        guard: Guard | None = None,
        metrics: bool = False,
    ) -> None:
        """`subscriptions`: method-path prefixes of streams that follow something for as long as
        the client likes; shutdown does not wait for them, and they are not traced. `tls`: serve
        TLS (mutual TLS if it names a client CA), re-reading the files when they change. `guard`:
        admits or refuses each unary-request call before its request is decoded (authentication).
        `metrics`: count and time every call for Prometheus (agentmesh.prometheus)."""
        self._services = tuple(services)
        self._untraced = (*UNTRACED_SERVICES, *subscriptions)
        self._max_message_bytes = max_message_bytes
        self._max_connection_age = max_connection_age
        self._tracer_provider = tracer_provider
        self._tls = tls
        self._guard = guard
        self._metrics = metrics
        self._lag: asyncio.Task[None] | None = None
        self._server: grpc.aio.Server | None = None
        self._in_flight: InFlight | None = None
        self._state = HostState()
        self.health = health.aio.HealthServicer()
        self.port = 0

    async def start(self, address: str) -> int:
        """Bind `address` (port 0 picks a free port), start serving, and return the bound port."""
        self._in_flight = InFlight(self._untraced)
        self._state = HostState()
        interceptors: list[grpc.aio.ServerInterceptor] = [self._in_flight]
        # Without a tracer there is no span to record or to hand on, only the interceptor's cost.
        if self._tracer_provider is not None or tracing_configured():
            interceptors.append(server_interceptor(self._tracer_provider, self._untraced))
        if self._metrics:
            interceptors.append(ServerMetrics())
        interceptors.append(HostedCalls(self._state, guard=self._guard))
        server = grpc.aio.server(
            interceptors=interceptors,
            options=server_options(self._max_message_bytes, self._max_connection_age),
        )
        for service in self._services:
            service.register(server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = [s.name for s in self._services]
        reflection.enable([*names, health.SERVICE_NAME], server, documented_pool())
        refuse_if_taken(address)
        try:
            if self._tls is not None:
                port = server.add_secure_port(address, self._tls.credentials())
            else:
                port = server.add_insecure_port(address)
                host = address.rpartition(":")[0]
                if not is_loopback(host):
                    log.warning(
                        "serving plaintext on a non-loopback address: anyone who reaches it can call"
                        " it unencrypted; give a TLS certificate and key, or bind 127.0.0.1",
                        extra={"address": address},
                    )
        except RuntimeError as exc:
            raise OSError(f"cannot listen on {address}: {exc}") from None
        if port == 0:
            raise OSError(f"cannot listen on {address}")
        await server.start()
        for name in ("", *names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        self._server, self.port = server, port
        if self._metrics:
            self._lag = asyncio.create_task(follow_event_loop(), name="event-loop-lag")
        return port

    @property
    def serving(self) -> bool:
        """Started and not stopping: what a readiness probe asks."""
        return self._server is not None and not self._state.stopping

    async def stop(self, grace: float = DEFAULT_GRACE_SECONDS) -> None:
        """NOT_SERVING first; in-flight calls get up to `grace` seconds to finish; then stop."""
        if self._server is None:
            return
        # Calls cancelled from now on are (but for a caller leaving at the same moment) cancelled
        # by this stop, and their log line says so.
        self._state.stopping = True
        await self.health.enter_graceful_shutdown()
        if self._in_flight is not None:
            try:
                await asyncio.wait_for(self._in_flight.wait_idle(), grace)
            except TimeoutError:
                log.warning("grace period over; cancelling calls", extra={"in_flight": self._in_flight.count})
        await self._server.stop(_FAREWELL_SECONDS)
        self._server = None
        if self._lag is not None:
            self._lag.cancel()
            self._lag = None

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


async def serve_until_signalled(host: ServiceHost, grace: float = DEFAULT_GRACE_SECONDS) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully. The host must already be started."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    # One registration per signal: a second add_signal_handler would replace the first (grpc#34873).
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
        log.info("shutting down", extra={"grace_seconds": grace})
        await host.stop(grace)
        log.info("stopped")
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


def refuse_if_taken(address: str) -> None:
    """OSError naming the port when something listens on it already. Checked before gRPC binds:
    gRPC logs its own multi-line error on a failed bind, and it sets SO_REUSEPORT, with which a
    second server on the port may bind and silently share it."""
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]") or "0.0.0.0"
    if not port_text.isdigit() or int(port_text) == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port in TIME_WAIT is free
        try:
            probe.bind((host, int(port_text)))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise OSError(f"port {port_text} on {host} is in use (pick another with --port)") from None
