"""The `agentmesh` command line: serve agents and the gateway, bring a mesh up, run and follow workflows.

The only package that composes the others: the SDK (`agentmesh`), the gateway
(`agentmesh_gateway`) and the shipped agents (`agentmesh_services`). Commands import
what they need when they run, so that each starts quickly.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import typer
from rich.console import Console

from agentmesh_cli import completion
from agentmesh_cli.client import TOKEN_ENV, CliError, GatewayOption, access
from agentmesh_cli.client import fail as _fail
from agentmesh_cli.client import run_command as _run
from agentmesh_cli.schedules import schedule_app
from agentmesh_cli.serve import LogLevelOption, agent_command, gateway_command, log_options
from agentmesh_cli.tokens import token_app
from agentmesh_cli.workflows import workflows_app

app = typer.Typer(
    name="agentmesh",
    help="agentmesh: a gRPC polyglot agent mesh.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

#: The HTTP port (web console, HTTP/JSON API, A2A, MCP) of `agentmesh up` with the default mesh,
#: whose ports are all fixed. Not the default mesh file's: `agentmesh gateway` serves HTTP only
#: when asked, and many gateways start from that file (tests, replicas).
DEFAULT_HTTP_PORT = 8080
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


app.command("agent")(agent_command)
app.command("gateway")(gateway_command)


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
    _, level = log_options("json", log_level)
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
