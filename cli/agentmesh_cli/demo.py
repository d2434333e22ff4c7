"""`agentmesh demo`: the research workflow on a local mesh of processes, with live progress.

Starts the four research agents and a gateway (store in a temporary directory), each as its
own process; runs `research`, printing each event as it arrives; renders the report and the
dashboard; stops everything with SIGTERM. The gateway serves its HTTP port too (a free one), and
the demo prints the web console's address; `--stay` keeps the mesh up after the run, until
Ctrl-C, to look at the run there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from pathlib import Path

from rich.console import Console

from agentmesh.client import Client, Run, RunState
from agentmesh_cli.client import CliError
from agentmesh_cli.launch import LocalMesh
from agentmesh_cli.process import StartFailed
from agentmesh_cli.render import describe, print_outcome
from agentmesh_cli.talk import dashboard

console = Console()
RESEARCH_AGENTS = ("researcher", "analyst", "writer", "critic")
# Simulated thinking time of the offline model, so that progress is visible.
DEMO_LATENCY_MS = "250"


async def run_demo(topic: str, *, stay: bool = False) -> int:
    env = {"AGENTMESH_OFFLINE_LATENCY_MS": DEMO_LATENCY_MS, **os.environ}
    with tempfile.TemporaryDirectory(prefix="agentmesh-demo-") as workdir:
        mesh = LocalMesh(Path(workdir) / "gateway.db", env=env, gateway_args=["--http-port", "0"])
        for name in RESEARCH_AGENTS:
            mesh.add_agent(name)
        run: Run | None = None
        try:
            with console.status("starting the research agents and the gateway…"):
                try:
                    await mesh.start()
                except StartFailed as exc:
                    raise CliError(f"the demo mesh did not come up: {exc}") from None
            for name, process in mesh.processes:
                console.print(f"[green]✓[/] {name:<10} SERVING on 127.0.0.1:{process.port}")
            if mesh.console:
                console.print(f"  console    {mesh.console}", highlight=False)
            console.print()
            async with await Client.connect(mesh.target) as client:
                run = await _research(client, topic)
            if stay and mesh.console:
                where = f"{mesh.console}runs/{run.run_id}"
                console.print(f"the mesh stays up: the run is at {where} (Ctrl-C stops it)", highlight=False)
                await _signalled()
        finally:
            codes = await mesh.stop()
    console.print(f"\n[green]✓[/] mesh stopped ({len(codes)} processes, exit codes {sorted(set(codes))})")
    return 0 if run is not None and run.state == RunState.SUCCEEDED else 1


async def _signalled() -> None:
    """Until SIGINT or SIGTERM."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await stopping.wait()
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


async def _research(client: Client, topic: str) -> Run:
    inputs = {"topic": topic, "depth": "quick", "max_subtopics": 2}
    console.print(f"[bold]research[/] “{topic}” (depth quick, 2 subtopics)\n")
    run_id = ""
    async for event in client.stream("research", inputs):
        run_id = event.run_id
        if line := describe(event):
            console.print(f"[dim]{event.sequence:>4}[/] {line}")
    run = await client.get_run(run_id)
    print_outcome(console, run)
    if run.state == RunState.SUCCEEDED:
        console.print(f"critic score {run.outputs['score']}, revised: {run.outputs['revised']}\n")
        console.print(dashboard(await client.metrics()))
    return run
