"""Serving an agent: as a library call, or as a standalone process from the command line."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import grpc
import typer
from opentelemetry import trace

from agentmesh.cli_options import MetricsPortOption, TLSCertOption, TLSClientCAOption, TLSKeyOption
from agentmesh.errors import ProviderError
from agentmesh.extras import MissingExtra
from agentmesh.llm import LLMProvider, provider_from_env
from agentmesh.logs import LogFormat, configure_logging
from agentmesh.prometheus import metrics_port as parse_metrics_port
from agentmesh.prometheus import serve_metrics
from agentmesh.runtime.agent import Agent
from agentmesh.runtime.servicer import AgentServicer
from agentmesh.server import (
    DEFAULT_GRACE_SECONDS,
    DEFAULT_HOST,
    Service,
    ServiceHost,
    max_connection_age_s,
    serve_until_signalled,
)
from agentmesh.telemetry import TelemetryConfigError, configure_tracing, shutdown_tracing
from agentmesh.tls import ServerTLS, TLSConfigError, tls_mode
from agentmesh.v1 import agent_service_pb2, agent_service_pb2_grpc

log = logging.getLogger("agentmesh.agent")

AGENT_SERVICE = agent_service_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name


def agent_host(
    agent: Agent,
    llm: LLMProvider | None = None,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    tls: ServerTLS | None = None,
    metrics: bool = False,
) -> ServiceHost:
    """A ServiceHost serving `agent`, not yet started; the LLM defaults to AGENTMESH_LLM's choice."""
    servicer = AgentServicer(agent, llm or provider_from_env(agent.composers))

    def register(server: grpc.aio.Server) -> None:
        agent_service_pb2_grpc.add_AgentServiceServicer_to_server(servicer, server)

    return ServiceHost(
        [Service(AGENT_SERVICE, register)],
        tracer_provider=tracer_provider,
        max_connection_age=max_connection_age_s(),
        tls=tls,
        metrics=metrics,
    )


async def serve_agent(
    agent: Agent,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    grace: float = DEFAULT_GRACE_SECONDS,
    tls: ServerTLS | None = None,
    metrics_port: int | None = None,
) -> None:
    """Serve until SIGTERM or Ctrl-C, then drain gracefully; /metrics on `metrics_port` if given."""
    llm = provider_from_env(agent.composers)
    service_host = agent_host(agent, llm, tls=tls, metrics=metrics_port is not None)
    if metrics_port is not None:
        serve_metrics(host, metrics_port, lambda: service_host.serving)
    bound = await service_host.start(f"{host}:{agent.default_port if port is None else port}")
    log.info(
        "listening",
        extra={
            "agent": agent.name,
            "address": f"{host}:{bound}",
            "port": bound,
            "llm_provider": llm.name,
            "tls": tls_mode(tls),
        },
    )
    await serve_until_signalled(service_host, grace)


def run_agent_cli(agent: Agent, argv: Sequence[str] | None = None) -> None:
    """`python -m` entry point of an agent module; takes the same options as `agentmesh agent`."""
    app = typer.Typer(add_completion=False, help=agent.description or None)

    @app.command()
    def serve(
        host: str = typer.Option(DEFAULT_HOST, help="Interface to bind."),
        port: int = typer.Option(agent.default_port, help="Port to bind; 0 picks a free one."),
        grace: float = typer.Option(DEFAULT_GRACE_SECONDS, help="Seconds in-flight calls get on shutdown."),
        log_format: str = typer.Option("json", help="json or text."),
        log_level: str = typer.Option("info", help="debug, info, warning or error."),
        tls_cert: str = TLSCertOption,
        tls_key: str = TLSKeyOption,
        tls_client_ca: str = TLSClientCAOption,
        metrics_port: str = MetricsPortOption,
    ) -> None:
        try:
            tls = ServerTLS.from_settings(tls_cert, tls_key, tls_client_ca)
            metrics = parse_metrics_port(metrics_port)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        run_agent(
            agent,
            host=host,
            port=port,
            grace=grace,
            log_format=log_format,
            log_level=log_level,
            tls=tls,
            metrics_port=metrics,
        )

    app(args=list(argv) if argv is not None else None, prog_name=agent.name)


def run_agent(
    agent: Agent,
    *,
    host: str,
    port: int,
    grace: float,
    log_format: str,
    log_level: str = "info",
    tls: ServerTLS | None = None,
    metrics_port: int | None = None,
) -> None:
    fmt: LogFormat = "text" if log_format == "text" else "json"
    configure_logging(fmt, log_level)
    try:
        configure_tracing(f"agentmesh-{agent.name}")
        asyncio.run(serve_agent(agent, host, port, grace, tls, metrics_port))
    # A model that cannot be used (unknown, no key, its extra not installed) is a configuration
    # mistake too: one line that says so, not a traceback.
    except (OSError, TLSConfigError, TelemetryConfigError, ProviderError, MissingExtra) as exc:
        log.error("cannot serve", extra={"agent": agent.name, "error": str(exc)})
        raise typer.Exit(1) from None
    finally:
        shutdown_tracing()
