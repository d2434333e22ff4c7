"""The dashboard and chat commands: metrics [--live], chat [MESSAGE] [--session]."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from google.protobuf import duration_pb2, json_format
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh_cli.client import gateway

console = Console()
TOP_AGENTS = 5


def dashboard(metrics: pb.Metrics) -> Group:
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
        )
    return Group(overview, agents)


async def show_metrics(address: str, *, live: bool, interval: float, as_json: bool = False) -> int:
    async with gateway(address) as stub:
        if not live:
            metrics = (await stub.GetMetrics(pb.GetMetricsRequest(), timeout=30)).metrics
            if as_json:
                console.print_json(json_format.MessageToJson(metrics))
            else:
                console.print(dashboard(metrics))
            return 0
        every = duration_pb2.Duration()
        every.FromTimedelta(timedelta(seconds=interval))
        with Live(console=console, refresh_per_second=4) as view:
            async for update in stub.WatchMetrics(pb.WatchMetricsRequest(interval=every)):
                view.update(dashboard(update.metrics))
    return 0


async def chat(address: str, message: str, session: str) -> int:
    async with gateway(address) as stub:
        if message:
            await _say(stub, message, session)
            return 0
        console.print("chat with the mesh's model; an empty line or Ctrl-D ends it")
        while True:
            try:
                line = await asyncio.to_thread(console.input, "[bold]you>[/] ")
            except EOFError:
                return 0
            if not line.strip():
                return 0
            session = await _say(stub, line, session)


async def _say(stub: pb_grpc.OrchestratorServiceAsyncStub, message: str, session: str) -> str:
    result = pb.ChatResponse()
    async for event in stub.ChatStream(
        pb.ChatStreamRequest(message=message, session_id=session), timeout=300
    ):
        if event.WhichOneof("event") == "text":
            console.print(event.text, end="", highlight=False, markup=False)
        else:
            result = event.result
    console.print(f"\n[dim]session {result.session_id} · {result.tokens_used} tokens[/]")
    return result.session_id
