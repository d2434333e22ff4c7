"""The `agentmesh` command line: serve agents and the gateway, bring a mesh up, run and follow workflows.

The only package that composes the others: the SDK (`agentmesh`), the gateway
(`agentmesh_gateway`) and the shipped agents (`agentmesh_services`). Commands import
what they need when they run, so that each starts quickly.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console

from agentmesh.cli_options import (
    MetricsPortOption,
    TLSCAOption,
    TLSCertOption,
    TLSClientCAOption,
    TLSKeyOption,
)
from agentmesh.logs import LogFormat
from agentmesh.server import DEFAULT_GRACE_SECONDS, DEFAULT_HOST
from agentmesh_cli import completion
from agentmesh_cli.client import TOKEN_ENV, CliError, GatewayOption, access
from agentmesh_cli.client import fail as _fail
from agentmesh_cli.client import run_command as _run
from agentmesh_cli.schedules import schedule_app
from agentmesh_cli.tokens import token_app
from agentmesh_cli.workflows import workflows_app
from agentmesh_services import AGENTS

app = typer.Typer(
    name="agentmesh",
    help="agentmesh: a gRPC polyglot agent mesh.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

LOG_LEVELS = ("debug", "info", "warning", "error")
#: The HTTP port (web console, HTTP/JSON API, A2A, MCP) of `agentmesh up` with the default mesh,
#: whose ports are all fixed. Not the default mesh file's: `agentmesh gateway` serves HTTP only
#: when asked, and many gateways start from that file (tests, replicas).
DEFAULT_HTTP_PORT = 8080
LogFormatOption = typer.Option("json", help="json or text.")
LogLevelOption = typer.Option("info", help="debug, info, warning or error.")
JsonOption = typer.Option(False, "--json", help="Print each event as one JSON line (snake_case fields).")
RunIdArgument = typer.Argument(help="The run.", autocompletion=completion.run_ids)
InputOption = typer.Option(
    [],
    "--input",
    "-i",
    metavar="KEY=VALUE",
    help="KEY=VALUE (a string, unless the workflow's default for KEY is a number, boolean, list or"
    " object) or KEY:=JSON; repeatable.",
)


def _print_version(asked: bool) -> None:
    if asked:
        from agentmesh_cli.elsewhere import version

        typer.echo(f"agentmesh {version()}")
        raise typer.Exit()


@app.callback()
def global_options(
    _version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
    tls_ca: str = typer.Option(
        "",
        "--tls-ca",
        envvar="AGENTMESH_TLS_CA",
        help="Reach the gateway over TLS, trusting this CA; for mutual TLS the client certificate"
        " and key come from AGENTMESH_TLS_CERT and AGENTMESH_TLS_KEY.",
    ),
    token: str = typer.Option(
        "",
        "--token",
        envvar=TOKEN_ENV,
        show_default=False,
        help=f"Bearer token for the gateway (prefer env {TOKEN_ENV}: a flag shows in `ps`).",
    ),
) -> None:
    """agentmesh: a gRPC polyglot agent mesh."""
    access.tls_ca, access.token = tls_ca, token


def _checked(parse: Callable[[], T]) -> T:
    """Run an argument parser; a CliError is one line and exit code 2, never a traceback."""
    try:
        return parse()
    except CliError as exc:
        raise _fail(str(exc), exc.exit_code) from None


def _log_options(log_format: str, log_level: str) -> tuple[LogFormat, str]:
    if log_level.lower() not in LOG_LEVELS:
        raise _fail(f"--log-level must be one of: {', '.join(LOG_LEVELS)}")
    return ("text" if log_format == "text" else "json"), log_level.lower()


@app.command("agent")
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
    fmt, level = _log_options(log_format, log_level)
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


@app.command("gateway")
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
    fmt, level = _log_options(log_format, log_level)
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


@app.command("up")
def up_command(
    config: Path | None = typer.Option(None, help="Mesh file: agents, ports, store."),
    logs: Path | None = typer.Option(None, help="Keep each process's log in this directory (NAME.log)."),
    log_level: str = LogLevelOption,
    http_port: int | None = typer.Option(
        None,
        min=0,
        max=65535,
        help="The gateway's HTTP port (web console, HTTP/JSON API, A2A, MCP; 0 picks one). Default:"
        f" the mesh file's, else {DEFAULT_HTTP_PORT} with the default mesh.",
    ),
) -> None:
    """Start the gateway and every local agent, each as its own process; Ctrl-C stops them all."""
    _, level = _log_options("json", log_level)
    from agentmesh_cli.defaults import default_mesh
    from agentmesh_cli.up import up
    from agentmesh_gateway.config import ConfigError, load_config

    try:
        settings = load_config(config, default_mesh())
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    if http_port is not None:
        settings.http_port = http_port
    elif config is None:
        settings.http_port = DEFAULT_HTTP_PORT  # the default mesh's fixed ports: its console at 8080
    _run(up(settings, mesh_file=config, log_dir=logs, log_level=level))


@app.command("run")
def run_command(
    workflow: str = typer.Argument(
        help="A workflow file (YAML) or the name of a registered workflow.",
        autocompletion=completion.workflow_names,
    ),
    input: list[str] = InputOption,
    gateway: str = GatewayOption,
    json_lines: bool = JsonOption,
) -> None:
    """Start a run and follow it live; exits 0 when it succeeds."""
    from agentmesh_cli import runs
    from agentmesh_cli.inputs import parse_pairs

    pairs = _checked(lambda: parse_pairs(input))
    _run(runs.run_workflow(workflow, pairs, gateway, as_json=json_lines))


@app.command("research")
def research_command(
    topic: str = typer.Argument(help="What to research."),
    depth: str = typer.Option("standard", help="quick, standard or deep."),
    max_subtopics: int = typer.Option(3, help="At most this many subtopics, 1 to 10."),
    gateway: str = GatewayOption,
    json_lines: bool = JsonOption,
) -> None:
    """Run the research workflow and render its report."""
    from agentmesh_cli import runs

    inputs = {"topic": topic, "depth": depth, "max_subtopics": max_subtopics}
    _run(runs.run_workflow("research", inputs, gateway, as_json=json_lines))


@app.command("watch")
def watch_command(
    run_id: str = typer.Argument(help="The run to follow.", autocompletion=completion.run_ids),
    after_sequence: int = typer.Option(0, help="Show only events after this sequence number."),
    gateway: str = GatewayOption,
    json_lines: bool = JsonOption,
) -> None:
    """Follow a run: its recorded events after --after-sequence, then live ones."""
    from agentmesh_cli import runs

    _run(runs.watch_run(run_id, after_sequence, gateway, as_json=json_lines))


@app.command("runs")
def runs_command(
    state: str = typer.Option(
        "",
        autocompletion=completion.run_states,
        help="Only runs in this state: running, waiting_for_input, sleeping, succeeded, failed, cancelled.",
    ),
    limit: int = typer.Option(20, help="At most this many, newest first."),
    workflow: str = typer.Option("", help="Only runs of this workflow (its exact name)."),
    principal: str = typer.Option("", help="Only runs this principal started."),
    query: str = typer.Option(
        "", "--query", "-q", help="Only runs whose id starts with this or whose workflow's name contains it."
    ),
    gateway: str = GatewayOption,
    json_out: bool = typer.Option(False, "--json", help="One JSON object per run, per line."),
) -> None:
    """List runs, newest first."""
    from agentmesh.client import RunState
    from agentmesh_cli import runs

    if state and state.lower() not in {s.value for s in RunState if s != RunState.UNSPECIFIED}:
        raise _fail(
            f"unknown state {state!r}; choose running, waiting_for_input, sleeping, succeeded, failed"
            " or cancelled"
        )
    listed = runs.list_runs(
        state.lower(), limit, gateway, workflow=workflow, principal=principal, query=query, as_json=json_out
    )
    _run(listed)


@app.command("get")
def get_command(run_id: str = RunIdArgument, gateway: str = GatewayOption) -> None:
    """Print a run as JSON: its state, steps and outputs."""
    from agentmesh_cli import runs

    _run(runs.get_run(run_id, gateway))


@app.command("cancel")
def cancel_command(run_id: str = RunIdArgument, gateway: str = GatewayOption) -> None:
    """Cancel a run; its in-flight agent calls are cancelled at once."""
    from agentmesh_cli import runs

    _run(runs.cancel_run(run_id, gateway))


@app.command("respond")
def respond_command(
    run_id: str = typer.Argument(
        help="The run whose step asked a question.", autocompletion=completion.run_ids
    ),
    step: str = typer.Option("", help="The step that asks (needed when several do)."),
    item: int | None = typer.Option(None, help="The for_each item that asks."),
    input: list[str] = typer.Option(
        [],
        "--input",
        "-i",
        metavar="KEY=VALUE",
        help="KEY=VALUE (typed by the question's schema) or KEY:=JSON; repeatable.",
    ),
    text: str | None = typer.Option(None, help="The answer as text."),
    gateway: str = GatewayOption,
) -> None:
    """Answer a question a step's agent asked; the run goes on."""
    from agentmesh_cli import runs
    from agentmesh_cli.inputs import parse_pairs

    pairs = _checked(lambda: parse_pairs(input))
    _run(runs.respond(run_id, step, item, pairs, text, gateway))


@app.command("agents")
def agents_command(
    gateway: str = GatewayOption,
    json_out: bool = typer.Option(False, "--json", help="One JSON object per agent, per line."),
) -> None:
    """The gateway's agents: replicas, health and skills."""
    from agentmesh_cli import runs

    _run(runs.list_agents(gateway, as_json=json_out))


@app.command("metrics")
def metrics_command(
    live: bool = typer.Option(False, "--live", help="Refresh from the gateway's metrics stream."),
    interval: float = typer.Option(5.0, help="Seconds between live updates."),
    json_out: bool = typer.Option(False, "--json", help="Print the figures as JSON."),
    gateway: str = GatewayOption,
) -> None:
    """The dashboard: workflows by outcome, top agents by executions with latency percentiles."""
    from agentmesh_cli import talk

    _run(talk.show_metrics(gateway, live=live, interval=interval, as_json=json_out))


@app.command("chat")
def chat_command(
    message: str = typer.Argument("", help="One message; without it, an interactive session."),
    session: str = typer.Option("", help="Continue this session (its history is kept by the gateway)."),
    gateway: str = GatewayOption,
) -> None:
    """Chat with the mesh's model; each answer streams and reports its session and tokens."""
    from agentmesh_cli import talk

    _run(talk.chat(gateway, message, session))


@app.command("conformance")
def conformance_command(
    address: str = typer.Argument(help="The agent to check, HOST:PORT."),
    json_out: bool = typer.Option(False, "--json", help="Print the results as JSON."),
) -> None:
    """Check an agent, in any language, against the agentmesh contract; exits 1 if any check fails."""
    from agentmesh_cli.conformance import check_agent, report

    async def run() -> int:
        from agentmesh import health

        try:
            await health.wait_serving(address, timeout=5)
        except TimeoutError:
            raise CliError(f"no agent answers health checks at {address}") from None
        results = await check_agent(address)
        report(Console(soft_wrap=True), address, results, as_json=json_out)
        return 0 if all(r.ok for r in results) else 1

    _run(run())


@app.command("demo")
def demo_command(
    topic: str = typer.Option("Benefits of open source software", help="What to research."),
    stay: bool = typer.Option(
        False,
        "--stay",
        help="Keep the mesh up after the run (Ctrl-C stops it), to look at it in the console.",
    ),
) -> None:
    """Run the research workflow on a local mesh of processes, with live progress and the report."""
    from agentmesh_cli.demo import run_demo

    _run(run_demo(topic, stay=stay))


app.add_typer(token_app, name="token")
app.add_typer(workflows_app, name="workflows")
app.add_typer(schedule_app, name="schedule")


def main() -> None:
    import sys

    from agentmesh_cli.argv import arrange

    app(args=arrange(sys.argv[1:]), prog_name="agentmesh")
