"""OpenTelemetry server spans.

Spans go to whatever tracer provider is installed. `configure_tracing` installs the
SDK only when OTEL_TRACES_EXPORTER asks for an exporter, and a server without a
tracer installs no tracing interceptor, so an untraced agent pays nothing for it.
Health and reflection are left out of tracing: the aio interceptor breaks their
context.write-style streaming handlers (opentelemetry-python-contrib#3066).
"""

from __future__ import annotations

import os

import grpc
from opentelemetry import trace

UNTRACED_SERVICES = ("grpc.health.v1.Health", "grpc.reflection.")


def server_interceptor(tracer_provider: trace.TracerProvider | None = None) -> grpc.aio.ServerInterceptor:
    # Imported here: an untraced agent never needs the instrumentation (~60 ms of start-up).
    from opentelemetry.instrumentation.grpc import aio_server_interceptor, filters

    exclude = filters.negate(filters.any_of(*(filters.service_prefix(s) for s in UNTRACED_SERVICES)))
    interceptor: grpc.aio.ServerInterceptor = aio_server_interceptor(  # type: ignore[no-untyped-call]
        tracer_provider, filter_=exclude
    )
    return interceptor


def tracing_configured() -> bool:
    """Whether a real tracer provider has been installed (the API's default is a no-op proxy)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def configure_tracing(service_name: str, *, always: bool = False) -> None:
    """Install the SDK when OTEL_TRACES_EXPORTER=console (exporting to stderr), or when `always`.

    The gateway installs it always: it originates traces, and only a real tracer makes
    the span contexts it propagates to agents (W3C traceparent) valid.
    """
    exporting = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() == "console"
    if not (exporting or always):
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if exporting:
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
