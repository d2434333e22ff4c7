"""OpenTelemetry: the SDK configured from the standard OTEL_* variables, and server spans.

Spans go to whatever tracer provider is installed. `configure_tracing` installs the
SDK only when OTEL_TRACES_EXPORTER asks for an exporter (otlp over grpc or
http/protobuf, whose exporters are the `otlp` extra, or console), and a server without
a tracer installs no tracing interceptor, so an untraced agent pays nothing for it.
agentmesh configures itself: running it under `opentelemetry-instrument` is not needed (and
that route's grpc instrumentation wraps health's Watch, which it breaks;
opentelemetry-python-contrib#3066).
Health and reflection are left out of tracing: the aio interceptor breaks their
context.write-style streaming handlers (opentelemetry-python-contrib#3066). So are
subscriptions such as WatchRun: a span as long as a watch says nothing, and each
streamed message would pay for the wrapper.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import trace

from agentmesh.extras import require_extra

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import SpanProcessor
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.sdk.trace.id_generator import IdGenerator

log = logging.getLogger("agentmesh.telemetry")

UNTRACED_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.")


def server_interceptor(
    tracer_provider: trace.TracerProvider | None = None, untraced: Sequence[str] = UNTRACED_SERVICES
) -> grpc.aio.ServerInterceptor:
    """Server spans for every method except those whose path starts with one of `untraced`."""
    # Imported here: an untraced agent never needs the instrumentation (~60 ms of start-up).
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    prefixes = tuple(untraced)

    def traced(details: grpc.HandlerCallDetails) -> bool:
        return not details.method.lstrip("/").startswith(prefixes)

    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider, filter_=traced
    )
    return interceptor


def tracing_configured() -> bool:
    """Whether a real tracer provider has been installed (the API's default is a no-op proxy)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


class TelemetryConfigError(ValueError):
    """An OTEL_* variable asks for something agentmesh cannot do; the message names it."""


EXPORTERS = ("otlp", "console", "none")
PROTOCOLS = ("grpc", "http/protobuf")


def _exporters(env: Mapping[str, str]) -> list[str]:
    value = env.get("OTEL_TRACES_EXPORTER", "none")
    names = [name.strip().lower() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in EXPORTERS]
    if unknown:
        raise TelemetryConfigError(
            f"OTEL_TRACES_EXPORTER={value!r}: unknown exporter {unknown[0]!r}"
            " (agentmesh exports otlp, console or none)"
        )
    return [name for name in names if name != "none"]


def _protocol(env: Mapping[str, str]) -> str:
    variable = next(
        (v for v in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL") if env.get(v)), ""
    )
    protocol = env.get(variable, "http/protobuf").strip().lower() if variable else "http/protobuf"
    if protocol not in PROTOCOLS:
        raise TelemetryConfigError(
            f"{variable}={env[variable]!r}: agentmesh speaks OTLP over grpc or http/protobuf"
        )
    return protocol


def configure_tracing(service_name: str, env: Mapping[str, str] = os.environ) -> None:
    """Install the SDK as the OTEL_* variables say: exporters (otlp, console), OTLP protocol and
    endpoint, sampler, service name (`service_name` unless OTEL_SERVICE_NAME or
    OTEL_RESOURCE_ATTRIBUTES names one). Nothing when no exporter is asked for; a value agentmesh
    does not know raises TelemetryConfigError, so that a misspelt exporter stops the process at
    start-up instead of dropping every span without a word."""
    exporters = _exporters(env)
    _take_back_grpc_instrumentation()
    if tracing_configured():
        return  # an SDK someone installed already (opentelemetry-instrument with a distro)
    if not exporters:
        return
    protocol = _protocol(env) if "otlp" in exporters else ""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    made = [ConsoleSpanExporter() if name == "console" else _otlp_exporter(protocol) for name in exporters]
    named = env.get("OTEL_SERVICE_NAME") or "service.name=" in env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    resource = Resource.create({} if named else {"service.name": service_name})
    provider = TracerProvider(resource=resource, id_generator=_chosen_ids_generator())
    provider.add_span_processor(_rpc_span_names())
    for exporter in made:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


def _rpc_span_names() -> SpanProcessor:
    """Names RPC server spans as the conventions (and grpc-go's and grpc-js's instrumentation)
    do, `package.Service/Method`: the Python instrumentation names them by the path, with a
    leading slash, and a service graph would show the same call under two names."""
    from opentelemetry.sdk.trace import SpanProcessor

    class RpcSpanNames(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            if span.name.startswith("/"):
                span.update_name(span.name[1:])

    return RpcSpanNames()


def _otlp_exporter(protocol: str) -> SpanExporter:
    """The OTLP exporter for `protocol`: the otlp extra, which a plain install leaves out."""
    wanted = f"OTEL_TRACES_EXPORTER=otlp over {protocol}"
    require_extra("otlp", wanted, f"opentelemetry.exporter.otlp.proto.{protocol.partition('/')[0]}")
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as Grpc

        return Grpc()
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as Http

    return Http()


def _take_back_grpc_instrumentation() -> None:
    """Under `opentelemetry-instrument`, grpc's aio instrumentations wrap every server and channel:
    unfiltered, the server one breaks health's Watch (a context.write() stream) and with it the
    gateway's view of its agents. agentmesh traces its own calls (health, reflection and
    subscriptions left out, the trace context carried by the gateway itself), so it takes those
    two back; everything else that route instruments stays."""
    if "opentelemetry.instrumentation.grpc" not in sys.modules:
        return  # not loaded: nobody instrumented grpc
    from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient, GrpcAioInstrumentorServer

    instrumentors = (GrpcAioInstrumentorServer(), GrpcAioInstrumentorClient())  # type: ignore[no-untyped-call]
    taken = [i for i in instrumentors if i.is_instrumented_by_opentelemetry]
    for instrumentor in taken:
        instrumentor.uninstrument()
    if taken:
        log.info("took back opentelemetry's automatic grpc.aio instrumentation; agentmesh traces its calls")


def shutdown_tracing() -> None:
    """Export what is still batched (a stopping process's last spans)."""
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


#: Ids the next span started in this context must have (a run's root span: its ids derive from
#: the run id, so that every step span, made before the root is, already points at it).
_chosen: ContextVar[tuple[int, int] | None] = ContextVar("agentmesh_chosen_ids", default=None)


def _chosen_ids_generator() -> IdGenerator:
    """Random ids, unless `chosen_ids` says which the next root span gets."""
    from opentelemetry.sdk.trace.id_generator import RandomIdGenerator

    class ChosenIds(RandomIdGenerator):
        def generate_trace_id(self) -> int:
            chosen = _chosen.get()
            return chosen[0] if chosen is not None else super().generate_trace_id()

        def generate_span_id(self) -> int:
            chosen = _chosen.get()
            return chosen[1] if chosen is not None else super().generate_span_id()

    return ChosenIds()


@contextmanager
def chosen_ids(trace_id: int, span_id: int) -> Iterator[None]:
    token = _chosen.set((trace_id, span_id))
    try:
        yield
    finally:
        _chosen.reset(token)
