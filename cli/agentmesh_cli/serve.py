"""The server commands: `agentmesh agent NAME` serves one agent, `agentmesh gateway` the gateway.

Both take the same logging and TLS options as the agents' own programs, and import the server
they start only when they run.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import typer

from agentmesh.cli_options import (
    MetricsPortOption,
    TLSCAOption,
    TLSCertOption,
    TLSClientCAOption,
    TLSKeyOption,
)
from agentmesh.logs import LogFormat
from agentmesh.server import DEFAULT_GRACE_SECONDS, DEFAULT_HOST
from agentmesh_cli.client import fail as _fail
from agentmesh_services import AGENTS

LOG_LEVELS = ("debug", "info", "warning", "error")
LogFormatOption = typer.Option("json", help="json or text.")
LogLevelOption = typer.Option("info", help="debug, info, warning or error.")


def log_options(log_format: str, log_level: str) -> tuple[LogFormat, str]:
    if log_level.lower() not in LOG_LEVELS:
        raise _fail(f"--log-level must be one of: {', '.join(LOG_LEVELS)}")
    return ("text" if log_format == "text" else "json"), log_level.lower()


def agent_command(
    name: str = typer.Argument(help=f"Agent to serve: {', '.join(AGENTS)}."),
    host: str = typer.Option(DEFAULT_HOST, help="Interface to bind."),
    port: int | None = typer.Option(None, help="Port to bind; 0 picks a free one. Default: the agent's own."),
    grace: float = typer.Option(DEFAULT_GRACE_SECONDS, help="Seconds in-flight calls get on shutdown."),
    log_format: str = LogFormatOption,
    log_level: str = LogLevelOption,
    tls_cert: str = TLSCertOption,
    tls_key: str = TLSKeyOption,
    tls_client_ca: str = TLSClientCAOption,
    metrics_port: str = MetricsPortOption,
) -> None:
    """Serve one agent as a standalone gRPC server (health, reflection, graceful shutdown)."""
    if name not in AGENTS:
        raise _fail(f"unknown agent {name!r}; choose one of: {', '.join(AGENTS)}")
    fmt, level = log_options(log_format, log_level)
    from agentmesh.prometheus import metrics_port as parse_metrics_port
    from agentmesh.tls import ServerTLS, TLSConfigError

    try:
        tls = ServerTLS.from_settings(tls_cert, tls_key, tls_client_ca)
        metrics = parse_metrics_port(metrics_port)
    except (TLSConfigError, ValueError) as exc:
        raise _fail(str(exc)) from None
    entry = AGENTS[name]
    port = entry.default_port if port is None else port
    if entry.module is None:  # TypeScript or Go: its own program takes the same options
        from agentmesh_cli.elsewhere import unavailable

        # A wheel has no Go binary nor compiled TypeScript: say where to get them, not Node's trace.
        if (why := unavailable(name, entry.argv(), entry.root, port)) is not None:
            raise _fail(f"cannot start {name}: {why}")
        argv = [*entry.argv(), "--host", host, "--port", str(port), "--grace", str(grace)]
        argv += ["--log-format", fmt, "--log-level", level]
        for flag, value in (
            ("--tls-cert", tls_cert),
            ("--tls-key", tls_key),
            ("--tls-client-ca", tls_client_ca),
        ):
            argv += [flag, value] if value else []
        argv += ["--metrics-port", str(metrics)] if metrics is not None else []
        os.chdir(entry.root)
        try:
            os.execvp(argv[0], argv)  # noqa: S606 - the mesh file's command, as given, without a shell
        except OSError as exc:
            hint = "`make install` builds it"
            raise _fail(f"cannot start {name} ({' '.join(entry.command)}): {exc.strerror}; {hint}") from None
    from agentmesh.runtime.main import run_agent
    from agentmesh_services import load_agent

    run_agent(
        load_agent(name),
        host=host,
        port=port,
        grace=grace,
        log_format=fmt,
        log_level=level,
        tls=tls,
        metrics_port=metrics,
    )


def gateway_command(
    host: str | None = typer.Option(
        None, help="Interface to bind. Default: the mesh file's, else 127.0.0.1."
    ),
    port: int | None = typer.Option(
        None, help="Port to bind (0 picks one). Default: the mesh file's, else 50051."
    ),
    config: Path | None = typer.Option(None, help="Mesh file: agents, store, workflows."),
    store: str | None = typer.Option(
        None,
        envvar="AGENTMESH_STORE",
        help="Where runs and events are kept: a SQLite file (its directory is created), sqlite:///PATH,"
        " or postgresql://USER@HOST/DB.",
    ),
    agent: list[str] = typer.Option(
        [], help="NAME=ADDRESS[,ADDRESS...]; repeat per agent. Replaces the file's."
    ),
    workflows: list[Path] = typer.Option(
        [], help="Workflow file or directory; repeatable. Adds to the file's."
    ),
    grace: float = typer.Option(DEFAULT_GRACE_SECONDS, help="Seconds in-flight calls get on shutdown."),
    log_format: str = LogFormatOption,
    log_level: str = LogLevelOption,
    tls_cert: str = TLSCertOption,
    tls_key: str = TLSKeyOption,
    tls_client_ca: str = TLSClientCAOption,
    tls_ca: str = TLSCAOption,
    auth_tokens: Path | None = typer.Option(
        None, help="Static API tokens (names, roles, SHA-256 hashes); see `agentmesh token new`."
    ),
    jwks: Path | None = typer.Option(None, help="JWKS file to verify OIDC/JWT access tokens with."),
    jwt_issuer: str = typer.Option("", help="The `iss` JWTs must carry."),
    jwt_audience: str = typer.Option("", help="The `aud` JWTs must carry."),
    jwt_roles_claim: str = typer.Option("roles", help="Claim (dotted path) naming the caller's roles."),
    tenant_isolation: bool | None = typer.Option(
        None, "--tenant-isolation/--no-tenant-isolation", help="Principals see only their own runs."
    ),
    max_runs: int | None = typer.Option(
        None, min=1, help="Runs in flight at most (beyond: RESOURCE_EXHAUSTED). Default 20000."
    ),
    max_watchers: int | None = typer.Option(
        None, min=1, help="WatchRun/RunWorkflow streams at most. Default 5000."
    ),
    metrics_port: str = MetricsPortOption,
    http_port: int | None = typer.Option(
        None,
        min=0,
        max=65535,
        envvar="AGENTMESH_HTTP_PORT",
        help="Serve the HTTP/JSON API (/v1/…, /openapi.json), A2A (JSON-RPC, HTTP+JSON, agent cards)"
        " and MCP on this port (0 picks one); off unless given.",
    ),
    http_cors_origin: list[str] = typer.Option(
        [],
        help="An origin (https://console.example.com) whose browser pages may call the HTTP port;"
        " repeatable. Replaces the file's.",
    ),
    http_heartbeat: float | None = typer.Option(
        None,
        min=0.05,
        max=3600,
        envvar="AGENTMESH_HTTP_HEARTBEAT_SECONDS",
        help="Seconds an event stream on the HTTP port stays silent before a heartbeat (default 15).",
    ),
    lease_seconds: float | None = typer.Option(
        None,
        min=0.5,
        max=3600,
        envvar="AGENTMESH_LEASE_SECONDS",
        help="PostgreSQL store shared by replicas: a replica's lease on a run (default 6 s; a dead"
        " replica's runs are taken over within it and a third more).",
    ),
) -> None:
    """Serve the orchestrator gateway: durable DAG workflows over the agents, with streamed events."""
    fmt, level = log_options(log_format, log_level)
    from agentmesh_cli.defaults import default_mesh
    from agentmesh_gateway.config import ConfigError, cors_origins, load_config, parse_agent_flag, store_path
    from agentmesh_gateway.main import run_gateway

    try:
        settings = load_config(config, default_mesh())
        if store is not None:
            settings.store = store_path(store, "--store")
        if agent:
            settings.agents = dict(parse_agent_flag(flag) for flag in agent)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    settings.tls = settings.tls.overlay(cert=tls_cert, key=tls_key, client_ca=tls_client_ca, ca=tls_ca)
    from agentmesh_gateway.auth.jwt_tokens import JWTSettings

    auth = settings.auth
    if auth_tokens is not None:
        auth = dataclasses.replace(auth, tokens=auth_tokens)
    if jwks is not None:
        if not jwt_issuer or not jwt_audience:
            raise _fail("--jwks needs --jwt-issuer and --jwt-audience")
        auth = dataclasses.replace(auth, jwt=JWTSettings(jwks, jwt_issuer, jwt_audience, jwt_roles_claim))
    if tenant_isolation is not None:
        auth = dataclasses.replace(auth, tenant_isolation=tenant_isolation)
    settings.auth = auth
    settings.max_runs = max_runs if max_runs is not None else settings.max_runs
    settings.max_watchers = max_watchers if max_watchers is not None else settings.max_watchers
    from agentmesh.prometheus import metrics_port as parse_metrics_port

    try:
        asked = parse_metrics_port(metrics_port, {})
    except ValueError as exc:
        raise _fail(str(exc)) from None
    settings.metrics_port = asked if asked is not None else settings.metrics_port
    settings.lease_seconds = lease_seconds if lease_seconds is not None else settings.lease_seconds
    settings.http_port = http_port if http_port is not None else settings.http_port
    if http_cors_origin:
        try:
            settings.http_cors_origins = cors_origins(http_cors_origin, "--http-cors-origin")
        except ConfigError as exc:
            raise _fail(str(exc)) from None
    if http_heartbeat is not None:
        settings.http_heartbeat_seconds = http_heartbeat
    settings.host = host if host is not None else settings.host
    settings.port = port if port is not None else settings.port
    settings.workflow_paths += workflows
    raise typer.Exit(run_gateway(settings, grace=grace, log_format=fmt, log_level=level))
