"""The run commands: run, research, watch, runs, get, cancel, agents."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import json_format
from rich.console import Console
from rich.live import Live
from rich.table import Table

from agentmesh.errors import AgentMeshError
from agentmesh.messages import dict_to_struct
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh.v1 import run_pb2
from agentmesh_cli.client import CliError, gateway
from agentmesh_cli.progress import RunView, event_json, print_outcome

console = Console()


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values read as YAML scalars or lists, so `n=3` is a number and `p=[a, b]` a list."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--input {pair!r}: expected KEY=VALUE", exit_code=2)
        try:
            inputs[key] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            inputs[key] = raw
    return inputs


def start_request(target: str, inputs: Mapping[str, Any]) -> pb.StartRunRequest:
    request = pb.StartRunRequest(inputs=dict_to_struct(inputs))
    path = Path(target)
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        from agentmesh.workflows import load_workflow

        try:
            request.workflow.CopyFrom(load_workflow(path))
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}", exit_code=2) from None
        except AgentMeshError as exc:
            raise CliError(f"{exc.message}", exit_code=2) from None
    else:
        request.workflow_name = target
    return request


async def run_workflow(target: str, inputs: Mapping[str, Any], address: str, *, as_json: bool) -> int:
    request = start_request(target, inputs)
    async with gateway(address) as stub:
        run = (await stub.StartRun(request, timeout=30)).run
        return await follow(stub, run, 0, address, as_json=as_json)


async def watch_run(run_id: str, after: int, address: str, *, as_json: bool) -> int:
    async with gateway(address) as stub:
        run = (await stub.GetRun(pb.GetRunRequest(run_id=run_id), timeout=30)).run
        return await follow(stub, run, after, address, as_json=as_json)


async def follow(
    stub: pb_grpc.OrchestratorServiceAsyncStub, run: run_pb2.Run, after: int, address: str, *, as_json: bool
) -> int:
    """Stream a run's events until it ends; Ctrl-C detaches and says how to re-attach."""
    view = RunView(run)
    view.last_sequence = after
    try:
        events = stub.WatchRun(pb.WatchRunRequest(run_id=run.run_id, after_sequence=after))
        if as_json:
            async for response in events:
                view.apply(response.event)
                print(event_json(response.event), flush=True)
        else:
            with Live(view.table(), console=console, refresh_per_second=8) as live:
                async for response in events:
                    view.apply(response.event)
                    live.update(view.table())
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels us, then raises KeyboardInterrupt
        hint = f"agentmesh watch {run.run_id} --after-sequence {view.last_sequence}"
        console.print(f"\ndetached; the run goes on. Re-attach with: {hint}")
        raise
    final = (await stub.GetRun(pb.GetRunRequest(run_id=run.run_id), timeout=30)).run
    if not as_json:
        print_outcome(console, final)
    return 0 if final.state == run_pb2.RUN_STATE_SUCCEEDED else 1


async def list_runs(state: str, limit: int, address: str) -> int:
    state_value = run_pb2.RunState.Value(f"RUN_STATE_{state.upper()}") if state else 0
    async with gateway(address) as stub:
        page = await stub.ListRuns(pb.ListRunsRequest(state=state_value, page_size=limit), timeout=30)  # type: ignore[arg-type]
    table = Table("run", "workflow", "state", "created", "duration")
    for run in page.runs:
        duration = ""
        if run.HasField("end_time"):
            duration = f"{(run.end_time.ToDatetime() - run.start_time.ToDatetime()).total_seconds():.1f}s"
        state_name = run_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_").lower()
        table.add_row(run.run_id, run.workflow.name, state_name, run.create_time.ToJsonString(), duration)
    console.print(table)
    return 0


async def get_run(run_id: str, address: str) -> int:
    async with gateway(address) as stub:
        run = (await stub.GetRun(pb.GetRunRequest(run_id=run_id), timeout=30)).run
    console.print_json(json_format.MessageToJson(run))
    return 0


async def cancel_run(run_id: str, address: str) -> int:
    async with gateway(address) as stub:
        run = (
            await stub.CancelRun(
                pb.CancelRunRequest(run_id=run_id, reason="cancelled from the CLI"), timeout=30
            )
        ).run
    console.print(f"run {run.run_id}: {run_pb2.RunState.Name(run.state).removeprefix('RUN_STATE_').lower()}")
    return 0


async def list_agents(address: str) -> int:
    async with gateway(address) as stub:
        agents = (await stub.ListAgents(pb.ListAgentsRequest(), timeout=30)).agents
    table = Table("agent", "replicas", "health", "skills")
    for agent in agents:
        health = ", ".join(
            pb.ReplicaHealth.Name(r.health).removeprefix("REPLICA_HEALTH_") for r in agent.replicas
        )
        table.add_row(
            agent.name,
            "\n".join(r.address for r in agent.replicas),
            health,
            ", ".join(s.id for s in agent.card.skills),
        )
    console.print(table)
    return 0
