"""`agentmesh schedule`: runs of a workflow on a cron expression's ticks, kept by the gateway."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from typing import Any

import typer
from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from agentmesh.errors import NotFound
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh_cli.client import CliError, GatewayOption, connected
from agentmesh_cli.client import run_command as _run
from agentmesh_cli.tables import show

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
schedule_app = typer.Typer(help="Start runs of a workflow on a schedule (cron).", no_args_is_help=True)
NameArgument = typer.Argument(help="The schedule's name (lower-kebab-case).")


@schedule_app.command("create")
def create_command(
    name: str = NameArgument,
    cron: str = typer.Option(..., "--cron", help="Five fields: minute hour day-of-month month day-of-week."),
    workflow: str = typer.Option(
        "", "--workflow", "-w", help="NAME or NAME@VERSION (default: the schedule's name)."
    ),
    input: list[str] = typer.Option(
        [],
        "--input",
        "-i",
        metavar="KEY=VALUE",
        help="KEY=VALUE (typed by the workflow's inputs) or KEY:=JSON; repeatable.",
    ),
    time_zone: str = typer.Option(
        "", "--tz", help="IANA time zone the cron expression is read in (default: UTC)."
    ),
    overlap: str = typer.Option(
        "skip", help="While the previous run is unfinished: skip, allow, cancel_previous."
    ),
    catch_up: str = typer.Option("one", help="Ticks missed while no gateway ran: none, one, all."),
    catch_up_window: str = typer.Option(
        "", help="With --catch-up all: only ticks this recent (default: 1h)."
    ),
    paused: bool = typer.Option(False, "--paused", help="Create it paused."),
    gateway: str = GatewayOption,
) -> None:
    """Create a schedule; it prints its next fire times."""
    from agentmesh.client import schedule_message
    from agentmesh_cli.inputs import kinds_of_workflow, parse_pairs, typed
    from agentmesh_gateway.step_kinds import parse_duration

    try:
        pairs = parse_pairs(input)
        window = timedelta(seconds=parse_duration(catch_up_window)) if catch_up_window else None
        schedule_message(name, workflow or name, cron, overlap=overlap, catch_up=catch_up)  # type: ignore[arg-type]
    except ValueError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except CliError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None

    async def create() -> int:
        async with connected(gateway) as client:
            # Typed by the workflow's inputs; a workflow that does not exist is the gateway's to name.
            try:
                found, _ = await client.get_workflow(workflow or name)
                kinds = kinds_of_workflow(found)
            except NotFound:
                kinds = {}
            spec = schedule_message(
                name,
                workflow or name,
                cron,
                typed(pairs, kinds),
                time_zone=time_zone,
                overlap=overlap,  # type: ignore[arg-type]  # checked above
                catch_up=catch_up,  # type: ignore[arg-type]
                catch_up_window=window,
                paused=paused,
            )
            response = await client.call(client.stub.CreateSchedule, pb.CreateScheduleRequest(schedule=spec))
        _describe(response.schedule)
        return 0

    _run(create())


@schedule_app.command("list")
def list_command(
    json_out: bool = typer.Option(False, "--json", help="One JSON object per schedule, per line."),
    gateway: str = GatewayOption,
) -> None:
    """Every schedule you may see, with its next fire time and last run."""

    async def listed() -> int:
        async with connected(gateway) as client:
            schedules = [s async for s in client.list_schedules()]
        if json_out:
            for schedule in schedules:
                print(_json(schedule, indent=None))
            return 0
        table = Table("schedule", "workflow", "cron", "next fire", "last run", "state")
        table.columns[4].no_wrap = True
        for s in schedules:
            table.add_row(
                s.name,
                s.workflow_name,
                f"{s.cron} ({s.time_zone or 'UTC'})",
                _when(s.next_fire_times[0]) if s.next_fire_times else "",
                s.last_run_id,
                "paused" if s.paused else "active",
            )
        show(table)
        return 0

    _run(listed())


@schedule_app.command("get")
def get_command(name: str = NameArgument, gateway: str = GatewayOption) -> None:
    """Print a schedule as JSON: its definition, next fire times and last run."""

    async def get() -> int:
        async with connected(gateway) as client:
            print(_json(await client.schedule(name).describe()))
        return 0

    _run(get())


@schedule_app.command("pause")
def pause_command(
    name: str = NameArgument,
    reason: str = typer.Option("", help="Why (shown with the schedule)."),
    gateway: str = GatewayOption,
) -> None:
    """Stop firing until resumed; the ticks meanwhile are not caught up."""

    async def pause() -> int:
        async with connected(gateway) as client:
            await client.schedule(name).pause(reason)
        console.print(f"schedule {name}: paused")
        return 0

    _run(pause())


@schedule_app.command("resume")
def resume_command(name: str = NameArgument, gateway: str = GatewayOption) -> None:
    """Fire again, from the next tick after now."""

    async def resume() -> int:
        async with connected(gateway) as client:
            _describe(await client.schedule(name).resume())
        return 0

    _run(resume())


@schedule_app.command("trigger")
def trigger_command(name: str = NameArgument, gateway: str = GatewayOption) -> None:
    """Start a run now, as a tick would; prints its id."""

    async def trigger() -> int:
        async with connected(gateway) as client:
            handle = await client.schedule(name).trigger()
        console.print(f"schedule {name}: started run {handle.run_id} (agentmesh watch {handle.run_id})")
        return 0

    _run(trigger())


@schedule_app.command("delete")
def delete_command(name: str = NameArgument, gateway: str = GatewayOption) -> None:
    """Delete a schedule; the runs it started stay."""

    async def delete() -> int:
        async with connected(gateway) as client:
            await client.schedule(name).delete()
        console.print(f"schedule {name}: deleted")
        return 0

    _run(delete())


def _describe(schedule: pb.Schedule) -> None:
    state = "paused" if schedule.paused else "active"
    console.print(f"schedule {schedule.name} ({state}): {schedule.workflow_name} at {schedule.cron!r}")
    for moment in schedule.next_fire_times:
        console.print(f"  next: {_when(moment)}")


def _when(moment: Any) -> str:
    return str(moment.ToDatetime(UTC).isoformat(timespec="seconds"))


def _json(schedule: pb.Schedule, indent: int | None = 2) -> str:
    data = json_format.MessageToDict(schedule, preserving_proto_field_name=True)
    return json.dumps(data, indent=indent, ensure_ascii=False)
