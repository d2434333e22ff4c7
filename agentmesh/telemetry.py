"""OpenTelemetry server spans.

Spans go to whatever tracer provider is installed. `configure_tracing` installs the
SDK only when OTEL_TRACES_EXPORTER asks for an exporter, and a server without a
tracer installs no tracing interceptor, so an untraced agent pays nothing for it.
Health and reflection are left out of tracing: the aio interceptor breaks their
context.write-style streaming handlers (opentelemetry-python-contrib#3066). So are
subscriptions such as WatchRun: a span as long as a watch says nothing, and each
streamed message would pay for the wrapper.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import grpc
from opentelemetry import trace

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


def configure_tracing(service_name: str) -> None:
    """Install the SDK, exporting spans to stdout (logs stay on stderr), when OTEL_TRACES_EXPORTER=console."""
    if os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() != "console":
        return
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
