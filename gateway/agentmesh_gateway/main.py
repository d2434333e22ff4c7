"""Serving the gateway: the engine behind OrchestratorService, with health, reflection and graceful stop."""

from __future__ import annotations

import asyncio
import gc
import importlib.metadata
import logging
from dataclasses import dataclass
from pathlib import Path

import grpc
from starlette.applications import Starlette

from agentmesh.errors import AgentMeshError
from agentmesh.llm import provider_from_env
from agentmesh.logs import LogFormat, configure_logging
from agentmesh.prometheus import serve_metrics
from agentmesh.server import Service, ServiceHost, serve_until_signalled
from agentmesh.telemetry import TelemetryConfigError, configure_tracing, shutdown_tracing
from agentmesh.tls import TLSConfigError, is_loopback, tls_mode
from agentmesh.v1 import orchestrator_service_pb2, workflow_pb2
from agentmesh.workflows import load_directory, load_workflow
from agentmesh_gateway.a2a.cards import Cards
from agentmesh_gateway.a2a.handler import MeshRequestHandler
from agentmesh_gateway.a2a.routes import a2a_routes, a2a_service
from agentmesh_gateway.admission import Admission
from agentmesh_gateway.agents import AgentDirectory
from agentmesh_gateway.auth import AuthConfig, Gatekeeper
from agentmesh_gateway.chat import Chat
from agentmesh_gateway.config import ConfigError, GatewayConfig
from agentmesh_gateway.console import Console, console_url, is_console_path
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.http.auth import BearerAuth
from agentmesh_gateway.http.cors import with_cors
from agentmesh_gateway.http.server import HttpServer
from agentmesh_gateway.mcp import McpSurface
from agentmesh_gateway.pricing import Prices
from agentmesh_gateway.rest import OPENAPI_PATH, RestOptions, RestSurface
from agentmesh_gateway.service import OrchestratorServicer, add_to_server
from agentmesh_gateway.store import location_label, open_store

log = logging.getLogger("agentmesh.gateway")

ORCHESTRATOR_SERVICE = orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"].full_name
# Streams that follow runs are subscriptions, not work: shutdown does not wait for them
# (their clients resume with after_sequence), and they are not traced.
SUBSCRIPTIONS = tuple(f"{ORCHESTRATOR_SERVICE}/{rpc}" for rpc in ("WatchRun", "RunWorkflow", "WatchMetrics"))


def load_workflows(paths: list[Path]) -> dict[str, workflow_pb2.Workflow]:
    found: dict[str, workflow_pb2.Workflow] = {}
    for path in paths:
        try:
            if path.is_dir():
                found.update(load_directory(path))
            else:
                workflow = load_workflow(path)
                found[workflow.name or path.stem] = workflow
        except (OSError, AgentMeshError) as exc:
            raise ConfigError(f"cannot load workflows from {path}: {exc}") from None
    return found


@dataclass
class Gateway:
    """The engine and the surfaces that serve it: the gRPC host, and the HTTP port if asked for."""

    engine: Engine
    host: ServiceHost
    http: HttpServer | None


def build(config: GatewayConfig) -> Gateway:
    try:
        gatekeeper = Gatekeeper(config.auth) if config.auth.enabled else None
    except ValueError as exc:
        raise ConfigError(f"gateway auth: {exc}") from None
    try:
        store = open_store(config.store, lease_seconds=config.lease_seconds)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    engine = Engine(
        store,
        AgentDirectory(config.agents, config.agent_tls, limits=config.agent_limits),
        load_workflows(config.workflow_paths),
        Admission(config.max_runs, config.max_watchers),
        prices=Prices(config.prices),
        schedules=config.schedules,
    )
    chat = Chat(store, provider_from_env())
    isolated = config.auth.tenant_isolation
    servicer = OrchestratorServicer(
        engine, chat, tenant_isolation=isolated, authenticated=gatekeeper is not None
    )

    def register(server: grpc.aio.Server) -> None:
        add_to_server(servicer, server)

    cards = Cards(engine, version=agentmesh_version(), bearer=gatekeeper is not None)
    a2a = MeshRequestHandler(engine, cards, tenant_isolation=isolated)
    host = ServiceHost(
        [Service(ORCHESTRATOR_SERVICE, register), a2a_service(a2a)],
        subscriptions=SUBSCRIPTIONS,
        tls=config.server_tls,
        guard=gatekeeper,
        metrics=config.metrics_port is not None,
    )
    http = None
    if config.http_port is not None:
        routes = a2a_routes(a2a, cards, lambda: host.port, authenticated=gatekeeper is not None)
        mcp = McpSurface(
            engine,
            version=agentmesh_version(),
            tenant_isolation=isolated,
            authenticated=gatekeeper is not None,
            loopback=is_loopback(config.host),
        )
        routes += mcp.routes()
        rest = RestSurface(
            servicer,
            orchestrator_service_pb2.DESCRIPTOR.services_by_name["OrchestratorService"],
            RestOptions(
                cors_origins=tuple(config.http_cors_origins),
                authenticated=gatekeeper is not None,
                loopback=is_loopback(config.host),
                heartbeat=config.http_heartbeat_seconds,
                version=agentmesh_version(),
            ),
        )
        routes += rest.routes()  # OrchestratorService as HTTP/JSON under /v1/, and /openapi.json
        routes += Console().routes()  # the web console at /: its files need no token, its API calls do
        app = BearerAuth(
            Starlette(routes=routes),
            gatekeeper,
            is_open=lambda path: path.endswith(CARD_PATH) or is_console_path(path) or path == OPENAPI_PATH,
        )
        http = HttpServer(with_cors(app, config.http_cors_origins), config.server_tls, companions=[mcp, rest])
    return Gateway(engine, host, http)


async def serve_gateway(config: GatewayConfig, grace: float) -> None:
    gateway = build(config)
    engine, host = gateway.engine, gateway.host
    for name, workflow in engine.workflows().items():
        try:
            await engine.validate(workflow)
        except AgentMeshError as exc:
            log.warning("registered workflow is invalid", extra={"workflow": name, "error": str(exc)})
    await engine.start()
    # What start-up made (modules, the contract's descriptors, workflows) lives as long as the
    # process: out of the collector's sight, a full collection no longer walks it.
    gc.freeze()
    try:
        port = await host.start(f"{config.host}:{config.port}")
        if config.metrics_port is not None:
            serve_metrics(config.host, config.metrics_port, lambda: host.serving)
        if gateway.http is not None and config.http_port is not None:
            http_port = await gateway.http.start(config.host, config.http_port)
            address, tls = f"{config.host}:{http_port}", config.server_tls is not None
            log.info(
                "http listening",
                extra={
                    "address": address,
                    "port": http_port,
                    "console": console_url(config.host, http_port, tls),
                },
            )
        log.info(
            "listening",
            extra={
                "service": "gateway",
                "address": f"{config.host}:{port}",
                "port": port,
                "store": location_label(config.store),
                "tls": tls_mode(config.server_tls),
                "agent_tls": "on" if config.agent_tls is not None else "off",
                "auth": auth_mode(config.auth),
                "agents": sorted(config.agents),
                "workflows": sorted(engine.workflows()),
            },
        )
        if not config.auth.enabled and not is_loopback(config.host):
            log.warning(
                "no authentication: anyone who reaches the gateway can start, watch and cancel runs;"
                " give --auth-tokens or --jwks",
                extra={"address": f"{config.host}:{port}"},
            )
        await serve_until_signalled(host, grace)
    finally:
        if gateway.http is not None:
            await gateway.http.stop()
        await engine.stop()


CARD_PATH = "/.well-known/agent-card.json"


def agentmesh_version() -> str:
    try:
        return importlib.metadata.version("agentmesh")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0"


def auth_mode(auth: AuthConfig) -> str:
    kinds = [kind for kind, on in (("tokens", auth.tokens), ("jwt", auth.jwt)) if on is not None]
    if not kinds:
        return "off"
    return "+".join(kinds) + (", tenant isolation" if auth.tenant_isolation else "")


def run_gateway(
    config: GatewayConfig, *, grace: float, log_format: LogFormat, log_level: str = "info"
) -> int:
    configure_logging(log_format, log_level)
    try:
        configure_tracing("agentmesh-gateway")
        asyncio.run(serve_gateway(config, grace))
    except (OSError, ConfigError, TLSConfigError, TelemetryConfigError, AgentMeshError) as exc:
        log.error("cannot serve", extra={"error": str(exc)})
        return 1
    finally:
        shutdown_tracing()
    return 0
