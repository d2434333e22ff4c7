"""`agentmesh workflows`: register versions of workflows and see which runs use them."""

from __future__ import annotations

import json
from datetime import UTC
from pathlib import Path

import typer
import yaml
from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from agentmesh_cli.client import GatewayOption, connected
from agentmesh_cli.client import run_command as _run
from agentmesh_cli.tables import show

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
workflows_app = typer.Typer(help="Workflows the gateway knows, every version of each.", no_args_is_help=True)


@workflows_app.command("apply")
def apply_command(
    file: Path = typer.Argument(help="The workflow (YAML or JSON)."),
    gateway: str = GatewayOption,
) -> None:
    """Register the file as a version of its workflow: the version it names, or the next number.
    The same definition again changes nothing; a changed one under a taken version is refused."""
    from agentmesh_cli.runs import workflow_source

    workflow = workflow_source(str(file)) if file.exists() else None
    if workflow is None or isinstance(workflow, str):
        err.print(f"[red]error:[/] no workflow file {file}", highlight=False)
        raise typer.Exit(2)

    async def apply() -> int:
        async with connected(gateway) as client:
            registered, created = await client.apply_workflow(workflow)
        what = "registered" if created else "unchanged (the same definition is registered)"
        console.print(f"workflow {registered.name} version {registered.version}: {what}")
        return 0

    _run(apply())


@workflows_app.command("list")
def list_command(
    json_out: bool = typer.Option(False, "--json", help="One JSON object per version, per line."),
    gateway: str = GatewayOption,
) -> None:
    """Every version of every workflow, newest first, with how many runs use each."""

    async def listed() -> int:
        async with connected(gateway) as client:
            versions = await client.workflow_versions()
        if json_out:
            for version in versions:
                data = json_format.MessageToDict(version, preserving_proto_field_name=True)
                print(json.dumps(data, ensure_ascii=False))
            return 0
        table = Table("workflow", "version", "runs", "unfinished", "registered")
        for v in versions:
            registered = v.create_time.ToDatetime(UTC).isoformat(timespec="seconds")
            table.add_row(v.name, v.version, str(v.runs), str(v.runs_unfinished), registered)
        show(table)
        return 0

    _run(listed())


@workflows_app.command("get")
def get_command(
    name: str = typer.Argument(help="NAME (its latest version) or NAME@VERSION."),
    gateway: str = GatewayOption,
) -> None:
    """Print a workflow's definition as YAML (a file `workflows apply` takes back)."""

    async def get() -> int:
        async with connected(gateway) as client:
            workflow, _ = await client.get_workflow(name)
        data = json_format.MessageToDict(workflow, preserving_proto_field_name=True)
        print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), end="")
        return 0

    _run(get())
