"""The run commands: run, research, watch, runs, get, cancel, agents."""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from rich.console import Console
from rich.live import Live
from rich.table import Table

from agentmesh.client import Client, RunHandle, RunState, WorkflowSource
from agentmesh.errors import AgentMeshError
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1.workflow_pb2 import Workflow
from agentmesh.workflows import load_workflow
from agentmesh_cli.client import DEFAULT_GATEWAY, CliError, access, connected, describe
from agentmesh_cli.inputs import Pair, kinds_of_schema, kinds_of_workflow, typed
from agentmesh_cli.render import RunView, event_json, print_outcome, run_json
from agentmesh_cli.tables import show

console = Console()


def workflow_source(target: str) -> WorkflowSource:
    """A workflow file (loaded here, so that a broken file is reported before any call), or a name."""
    path = Path(target)
    if path.suffix not in (".yaml", ".yml", ".json") and not path.exists():
        return target
    try:
        return load_workflow(path)
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}", exit_code=2) from None
    except AgentMeshError as exc:
        raise CliError(describe(exc), exit_code=2) from None


async def run_workflow(
    target: str, inputs: Sequence[Pair] | Mapping[str, Any], address: str, *, as_json: bool
) -> int:
    """Start `target` (a file or a registered name) with `inputs` (`-i` pairs are typed by the
    workflow's inputs) and follow the run."""
    source = workflow_source(target)
    async with connected(address) as client:
        if not isinstance(inputs, Mapping):
            workflow = (await client.get_workflow(source))[0] if isinstance(source, str) else source
            inputs = typed(inputs, kinds_of_workflow(workflow) if isinstance(workflow, Workflow) else {})
        handle = await client.start(source, inputs)
        return await follow(client, handle, 0, as_json=as_json)


async def watch_run(run_id: str, after: int, address: str, *, as_json: bool) -> int:
    async with connected(address) as client:
        return await follow(client, client.handle(run_id), after, as_json=as_json)


async def follow(client: Client, handle: RunHandle, after: int, *, as_json: bool) -> int:
    """Show a run's events until it ends; Ctrl-C detaches and says how to re-attach."""
    view = RunView(await handle.get())
    view.last_sequence = after
    try:
        if as_json:
            async for event in handle.events(after):
                view.apply(event)
                print(event_json(event), flush=True)
        else:
            with Live(view.table(), console=console, refresh_per_second=8) as live:
                async for event in handle.events(after):
                    view.apply(event)
                    live.update(view.table())
    except asyncio.CancelledError:  # Ctrl-C: asyncio.run cancels us, then raises KeyboardInterrupt
        hint = reattach_hint(client, handle.run_id, view.last_sequence, as_json=as_json)
        console.print(f"\ndetached; the run goes on. Re-attach with: {hint}", soft_wrap=True)
        raise
    final = await handle.get()
    if not as_json:
        print_outcome(console, final)
    return 0 if final.state == RunState.SUCCEEDED else 1


def reattach_hint(client: Client, run_id: str, after: int, *, as_json: bool) -> str:
    """The command that follows the run on from here, with the options this one was called with
    (a token is not repeated on screen: it stays in AGENTMESH_TOKEN or is given again)."""
    parts = ["agentmesh"]
    if access.tls_ca:
        parts += ["--tls-ca", shlex.quote(access.tls_ca)]
    parts += ["watch", run_id, "--after-sequence", str(after)]
    if client.target != DEFAULT_GATEWAY:
        parts += ["--gateway", shlex.quote(client.target)]
    if as_json:
        parts.append("--json")
    return " ".join(parts)


async def list_runs(
    state: str,
    limit: int,
    address: str,
    *,
    workflow: str = "",
    principal: str = "",
    query: str = "",
    as_json: bool = False,
) -> int:
    wanted = RunState(state) if state else None
    table = Table("run", "workflow", "state", "created", "duration", "started by")
    table.columns[0].no_wrap = True  # an id is copied whole, whatever the terminal's width
    async with connected(address) as client:
        listed = client.list_runs(
            state=wanted, page_size=min(limit, 500), workflow_name=workflow, principal=principal, query=query
        )
        shown = 0
        async for run in listed:
            shown += 1
            if as_json:
                print(run_json(run, indent=None), flush=True)
                if shown >= limit:
                    break
                continue
            duration = f"{run.duration.total_seconds():.1f}s" if run.duration is not None else ""
            created = run.create_time.isoformat(timespec="seconds") if run.create_time else ""
            by = f"schedule {run.schedule}" if run.schedule else run.principal
            if run.parent_run_id:
                by = f"run {run.parent_run_id} ({run.parent_step_id})"
            table.add_row(run.run_id, run.workflow_name, run.state.value, created, duration, by)
            if shown >= limit:
                break
    if not as_json:
        show(table)
    return 0


async def get_run(run_id: str, address: str) -> int:
    async with connected(address) as client:
        run = await client.get_run(run_id)
    console.print_json(run_json(run))
    return 0


async def respond(
    run_id: str, step: str, item: int | None, pairs: Sequence[Pair], text: str | None, address: str
) -> int:
    """Answer the question a step waits on; with no step given, the run's only question. `-i`
    pairs are typed by the question's answer schema."""
    async with connected(address) as client:
        handle = client.handle(run_id)
        waiting = (await handle.get()).pending_input
        if not step:
            if len(waiting) != 1:
                asked = ", ".join(
                    f"{r.step_id}" + ("" if r.item is None else f" item {r.item}") for r in waiting
                )
                problem = f"several steps wait for input ({asked})" if waiting else "no step waits for input"
                raise CliError(f"run {run_id}: {problem}; name one with --step", exit_code=2)
            step, item = waiting[0].step_id, waiting[0].item
        question = next((r for r in waiting if (r.step_id, r.item) == (step, item)), None)
        answer = typed(pairs, kinds_of_schema(question.answer_schema) if question is not None else {})
        run = await handle.respond(
            step, dict(answer) if answer or text is None else None, text=text, item=item
        )
    console.print(f"run {run.run_id}: answered {step}; the run goes on", soft_wrap=True)
    return 0


async def cancel_run(run_id: str, address: str) -> int:
    async with connected(address) as client:
        run = await client.handle(run_id).cancel("cancelled from the CLI")
    console.print(f"run {run.run_id}: {run.state.value}", soft_wrap=True)
    return 0


async def list_agents(address: str, *, as_json: bool = False) -> int:
    async with connected(address) as client:
        if as_json:
            response = await client.call(client.stub.ListAgents, pb.ListAgentsRequest())
            for status in response.agents:
                data = json_format.MessageToDict(status, preserving_proto_field_name=True)
                print(json.dumps(data, ensure_ascii=False), flush=True)
            return 0
        agents = await client.list_agents()
    table = Table("agent", "replicas", "health", "skills")
    for agent in agents:
        table.add_row(
            agent.name,
            "\n".join(r.address for r in agent.replicas),
            ", ".join(r.health.name for r in agent.replicas),
            ", ".join(agent.skills),
        )
    show(table)
    return 0
