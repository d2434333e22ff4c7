"""`agentmesh demo`: the research workflow on a local mesh of processes, with live progress.

Starts the four research agents and a gateway (store in a temporary directory), each as its
own process; runs `research` through RunWorkflow, printing each event as it arrives; renders
the report; stops everything with SIGTERM.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import grpc
from google.protobuf import json_format
from rich.console import Console
from rich.markdown import Markdown

from agentmesh.health import wait_serving
from agentmesh.messages import dict_to_struct, struct_to_dict
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh.v1 import run_pb2
from agentmesh_cli.process import ServerProcess
from agentmesh_cli.talk import dashboard

console = Console()
RESEARCH_AGENTS = ("researcher", "analyst", "writer", "critic")
# Simulated thinking time of the offline model, so that progress is visible.
DEMO_LATENCY_MS = "250"


async def run_demo(topic: str) -> int:
    env = {"AGENTMESH_OFFLINE_LATENCY_MS": DEMO_LATENCY_MS, **os.environ}
    processes: list[ServerProcess] = []
    with tempfile.TemporaryDirectory(prefix="agentmesh-demo-") as workdir:
        try:
            ports = {}
            with console.status("starting the research agents and the gateway…"):
                for name in RESEARCH_AGENTS:
                    agent = ServerProcess.agent(name, env=env)
                    processes.append(agent)
                    ports[name] = await agent.start()
                    await wait_serving(f"127.0.0.1:{ports[name]}")
                gateway = ServerProcess(_gateway_args(Path(workdir) / "gateway.db", ports), env)
                processes.append(gateway)
                await gateway.start()
                await wait_serving(f"127.0.0.1:{gateway.port}")
            for name, port in ports.items():
                console.print(f"[green]✓[/] {name:<10} SERVING on 127.0.0.1:{port}")
            console.print(f"[green]✓[/] {'gateway':<10} SERVING on 127.0.0.1:{gateway.port}\n")
            run = await _research(f"127.0.0.1:{gateway.port}", topic)
        finally:
            codes = [await process.stop() for process in reversed(processes)]
    console.print(f"\n[green]✓[/] mesh stopped ({len(codes)} processes, exit codes {sorted(set(codes))})")
    return 0 if run is not None and run.state == run_pb2.RUN_STATE_SUCCEEDED else 1


def _gateway_args(store: Path, ports: dict[str, int]) -> list[str]:
    args = [sys.executable, "-m", "agentmesh_cli", "gateway", "--host", "127.0.0.1", "--port", "0"]
    args += ["--store", str(store)]
    for name, port in ports.items():
        args += ["--agent", f"{name}=127.0.0.1:{port}"]
    return args


async def _research(target: str, topic: str) -> run_pb2.Run | None:
    inputs = {"topic": topic, "depth": "quick", "max_subtopics": 2}
    console.print(f"[bold]research[/] “{topic}” (depth quick, 2 subtopics)\n")
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.OrchestratorServiceStub(channel)
        request = pb.RunWorkflowRequest(workflow_name="research", inputs=dict_to_struct(inputs))
        run_id = ""
        async for response in stub.RunWorkflow(request, timeout=300):
            event = response.event
            run_id = event.run_id
            line = _describe(event)
            if line:
                console.print(f"[dim]{event.sequence:>4}[/] {line}")
        run = (await stub.GetRun(pb.GetRunRequest(run_id=run_id), timeout=10)).run
    if run.state != run_pb2.RUN_STATE_SUCCEEDED:
        console.print(f"[red]run {run_id} ended {run_pb2.RunState.Name(run.state)}: {run.error.message}[/]")
        return run
    outputs = struct_to_dict(run.outputs)
    console.rule("report")
    console.print(Markdown(outputs["report"]))
    console.rule()
    console.print(f"critic score {outputs['score']}, revised: {outputs['revised']}; run {run_id}\n")
    async with grpc.aio.insecure_channel(target) as channel:
        metrics = (
            await pb_grpc.OrchestratorServiceStub(channel).GetMetrics(pb.GetMetricsRequest(), timeout=10)
        ).metrics
    console.print(dashboard(metrics))
    return run


def _describe(event: run_pb2.RunEvent) -> str:
    kind = event.WhichOneof("event")
    body = getattr(event, kind or "")
    item = (
        f" item {body.item + 1}"
        if kind in ("step_started", "step_completed") and body.HasField("item")
        else ""
    )
    match kind:
        case "run_started":
            return f"run {event.run_id} started"
        case "step_started":
            return f"[cyan]{body.step_id}[/]{item} started (attempt {body.attempt})"
        case "step_completed":
            seconds = body.duration.ToTimedelta().total_seconds()
            return f"[green]{body.step_id}[/]{item} completed in {seconds:.2f}s"
        case "step_retrying":
            return f"[yellow]{body.step_id}[/] retrying after {body.error.code}"
        case "step_skipped":
            return f"[dim]{body.step_id} skipped: {body.reason}[/]"
        case "step_failed":
            return f"[red]{body.step_id} failed: {body.error.message}[/]"
        case "run_completed":
            return f"[bold green]run completed[/] in {body.duration.ToTimedelta().total_seconds():.2f}s"
        case "run_failed" | "run_cancelled":
            return f"[bold red]{kind.replace('_', ' ')}[/] {json_format.MessageToDict(body)}"
    return ""  # output chunks: the report is shown whole at the end
