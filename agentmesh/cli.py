"""The `agentmesh` command line."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

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


@app.command("demo")
def demo_command(
    topic: str = typer.Option("Benefits of open source software", help="What the researcher plans."),
) -> None:
    """Start the researcher agent, send it a real request, show the answer, and stop it."""
    from agentmesh.demo import run_demo

    raise typer.Exit(asyncio.run(run_demo(topic)))


def main() -> None:
    app()
