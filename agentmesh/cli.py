"""The `agentmesh` command line."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from agentmesh.logs import LogFormat
from agentmesh.runtime.main import DEFAULT_HOST, run_agent
from agentmesh.server import DEFAULT_GRACE_SECONDS
from services import AGENTS, load_agent

app = typer.Typer(
    name="agentmesh",
    help="agentmesh: a gRPC polyglot agent mesh.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


@app.command("agent")
def agent_command(
    name: str = typer.Argument(help=f"Agent to serve: {', '.join(AGENTS)}."),
    host: str = typer.Option(DEFAULT_HOST, help="Interface to bind."),
    port: int | None = typer.Option(None, help="Port to bind; 0 picks a free one. Default: the agent's own."),
    grace: float = typer.Option(DEFAULT_GRACE_SECONDS, help="Seconds in-flight calls get on shutdown."),
    log_format: str = typer.Option("json", help="json or text."),
) -> None:
    """Serve one agent as a standalone gRPC server (health, reflection, graceful shutdown)."""
    if name not in AGENTS:
        err.print(f"[red]error:[/] unknown agent {name!r}; choose one of: {', '.join(AGENTS)}")
        raise typer.Exit(2)
    agent = load_agent(name)
    run_agent(
        agent,
        host=host,
        port=agent.default_port if port is None else port,
        grace=grace,
        log_format=log_format,
    )


@app.command("gateway")
def gateway_command(
    host: str | None = typer.Option(None, help="Interface to bind. Default: the mesh file's, else [::]."),
    port: int | None = typer.Option(
        None, help="Port to bind (0 picks one). Default: the mesh file's, else 50051."
    ),
    config: Path | None = typer.Option(None, help="Mesh file: agents, store, workflows."),
    store: Path | None = typer.Option(
        None, help="SQLite file for runs and events (its directory is created)."
    ),
    agent: list[str] = typer.Option(
        [], help="NAME=ADDRESS[,ADDRESS...]; repeat per agent. Replaces the file's."
    ),
    workflows: list[Path] = typer.Option(
        [], help="Workflow file or directory; repeatable. Adds to the file's."
    ),
    grace: float = typer.Option(DEFAULT_GRACE_SECONDS, help="Seconds in-flight calls get on shutdown."),
    log_format: str = typer.Option("json", help="json or text."),
) -> None:
    """Serve the orchestrator gateway: durable DAG workflows over the agents, with streamed events."""
    from gateway.config import ConfigError, load_config, parse_agent_flag
    from gateway.main import run_gateway

    try:
        settings = load_config(config)
        if agent:
            settings.agents = dict(parse_agent_flag(flag) for flag in agent)
    except ConfigError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    settings.host = host if host is not None else settings.host
    settings.port = port if port is not None else settings.port
    settings.store = store if store is not None else settings.store
    settings.workflow_paths += workflows
    fmt: LogFormat = "text" if log_format == "text" else "json"
    raise typer.Exit(run_gateway(settings, grace=grace, log_format=fmt))


@app.command("demo")
def demo_command(
    topic: str = typer.Option("Benefits of open source software", help="What to research."),
) -> None:
    """Run the research workflow on a local mesh of processes, with live progress and the report."""
    from agentmesh.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(topic)))


def main() -> None:
    app()
