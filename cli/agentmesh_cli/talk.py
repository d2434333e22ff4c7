"""The dashboard and chat commands: metrics [--live], chat [MESSAGE] [--session]."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from agentmesh.client import Client, Metrics
from agentmesh_cli.client import connected

console = Console()
TOP_AGENTS = 5


def dashboard(metrics: Metrics) -> Group:
    overview = Table(
        "workflows executed",
        "succeeded",
        "failed",
        "cancelled",
        "running",
        "success rate",
        title="workflows",
        title_justify="left",
    )
    overview.add_row(
        str(metrics.workflows_executed),
        str(metrics.workflows_succeeded),
        str(metrics.workflows_failed),
        str(metrics.workflows_cancelled),
        str(metrics.workflows_running),
        f"{metrics.success_rate:.0%}",
    )
    agents = Table(
        "agent",
        "executions",
        "success rate",
        "avg ms",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "tokens",
        title=f"top {TOP_AGENTS} agents by executions",
        title_justify="left",
    )
    for agent in metrics.agents[:TOP_AGENTS]:
        agents.add_row(
            agent.agent,
            str(agent.executions),
            f"{agent.success_rate:.0%}",
            f"{agent.average_ms:.1f}",
            f"{agent.p50_ms:.1f}",
            f"{agent.p95_ms:.1f}",
            f"{agent.p99_ms:.1f}",
            f"{agent.tokens_used:,}",
        )
    return Group(overview, agents)


async def show_metrics(address: str, *, live: bool, interval: float, as_json: bool = False) -> int:
    async with connected(address) as client:
        if not live:
            metrics = await client.metrics()
            if as_json:
                console.print_json(data=_as_data(metrics))
            else:
                console.print(dashboard(metrics))
            return 0
        with Live(console=console, refresh_per_second=4) as view:
            async for update in client.watch_metrics(interval):
                view.update(dashboard(update))
    return 0


def _as_data(metrics: Metrics) -> dict[str, Any]:
    data = dataclasses.asdict(metrics)
    data["time"] = metrics.time.isoformat() if metrics.time else None
    return data


async def chat(address: str, message: str, session: str) -> int:
    async with connected(address) as client:
        if message:
            await _say(client, message, session)
            return 0
        console.print("chat with the mesh's model; an empty line or Ctrl-D ends it")
        while True:
            try:
                line = await asyncio.to_thread(console.input, "[bold]you>[/] ")
            except EOFError:
                return 0
            if not line.strip():
                return 0
            session = await _say(client, line, session)


async def _say(client: Client, message: str, session: str) -> str:
    async for piece in client.chat_stream(message, session):
        if isinstance(piece, str):
            console.print(piece, end="", highlight=False, markup=False)
        else:
            console.print(f"\n[dim]session {piece.session_id} · {piece.tokens_used} tokens[/]")
            session = piece.session_id
    return session
