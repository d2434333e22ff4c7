"""Run events for people: a live table of steps, a line per event, JSON lines; and a run's outcome.

One place renders events, whoever shows them (`agentmesh run`/`watch`, the demo).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from google.protobuf import json_format
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from agentmesh.client import (
    Event,
    Run,
    RunCancelled,
    RunCompleted,
    RunFailed,
    RunStarted,
    RunState,
    RunWaiting,
    StepChildStarted,
    StepCompleted,
    StepFailed,
    StepInputProvided,
    StepInputRequired,
    StepQueued,
    StepRetrying,
    StepSkipped,
    StepSleeping,
    StepStarted,
)
from agentmesh.v1 import workflow_pb2

_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "retrying": "yellow",
    "succeeded": "green",
    "failed": "red",
    "skipped": "dim",
    "cancelled": "magenta",
    "waiting": "bold magenta",
    "sleeping": "blue",
    "queued": "yellow",
}


@dataclass
class StepRow:
    step_id: str
    agent: str
    state: str = "pending"
    attempt: int = 0
    items_total: int = 0
    items_done: int = 0
    started: float = 0.0
    seconds: float | None = None
    note: str = ""


class RunView:
    """A run's steps as rows that events update: state, attempt, for_each items, time."""

    def __init__(self, run: Run) -> None:
        self.run_id = run.run_id
        self.workflow = run.workflow_name or "inline"
        self.rows = {s.id: StepRow(s.id, _doer(s)) for s in run.workflow.steps}
        self.last_sequence = 0

    def apply(self, event: Event) -> None:
        self.last_sequence = event.sequence
        row = self.rows.get(getattr(event, "step_id", ""))
        match event:
            case StepStarted() if row:
                row.state, row.attempt, row.note = "running", max(row.attempt, event.attempt), ""
                row.items_total = event.items_total
                row.started = row.started or time.monotonic()
            case StepRetrying() if row:
                row.state = "retrying"
                delay = event.delay.total_seconds()
                row.note = f"attempt {event.attempt} failed ({event.error.code}); retry in {delay:.1f}s"
            case StepCompleted() if row and event.item is not None:
                row.items_done += 1
            case StepCompleted() if row:
                # A child run's id stays on its row: `agentmesh watch` it, or `get` it.
                row.state, row.note = "succeeded", row.note if row.note.startswith("child run") else ""
                row.seconds = time.monotonic() - row.started if row.started else None
            case StepFailed() if row:
                row.state, row.note = "failed", f"{event.error.code}: {event.error.message}"
            case StepSkipped() if row:
                row.state, row.note = "skipped", event.reason
            case StepInputRequired():
                asked = self.rows.get(event.request.step_id)
                if asked is not None:
                    item = "" if event.request.item is None else f" --item {event.request.item}"
                    asked.state = "waiting"
                    asked.note = (
                        f"asks: {event.request.text} · answer with: agentmesh respond {self.run_id}"
                        f" --step {event.request.step_id}{item} -i KEY=VALUE"
                    )
            case StepInputProvided() if row:
                row.state, row.note = "running", ""
            case StepSleeping() if row:
                until = event.wake_time.isoformat(timespec="seconds") if event.wake_time else "?"
                row.state, row.note = "sleeping", f"until {until}"
                row.started = row.started or time.monotonic()
            case StepQueued() if row:
                row.state, row.note = "queued", f"waits for {event.agent}'s {event.limit.replace('_', ' ')}"
            case StepChildStarted() if row:
                row.state = "running"
                row.started = row.started or time.monotonic()
                row.note = f"child run {event.child_run_id} ({event.workflow_name}@{event.workflow_version})"
            case RunFailed() | RunCancelled():
                for other in self.rows.values():
                    if other.state in ("pending", "running", "retrying", "waiting", "sleeping", "queued"):
                        other.state = "cancelled"

    def table(self) -> Table:
        table = Table(title=f"{self.workflow} · run {self.run_id}", title_justify="left")
        for column in ("step", "agent", "state", "attempt", "items", "time"):
            table.add_column(column, no_wrap=True)
        table.add_column("", overflow="fold")
        for row in self.rows.values():
            items = f"{row.items_done}/{row.items_total}" if row.items_total else ""
            running = row.started and row.state in ("running", "retrying", "sleeping")
            elapsed = (
                row.seconds
                if row.seconds is not None
                else (time.monotonic() - row.started if running else None)
            )
            table.add_row(
                row.step_id,
                row.agent,
                f"[{_STYLE[row.state]}]{row.state}[/]",
                str(row.attempt or ""),
                items,
                f"{elapsed:.1f}s" if elapsed is not None else "",
                row.note,
            )
        return table


def describe(event: Event) -> str:
    """One line of rich markup for an event; empty for output chunks (the text comes whole at the end)."""
    item = (
        f" item {event.item + 1}"
        if isinstance(event, StepStarted | StepCompleted) and event.item is not None
        else ""
    )
    match event:
        case RunStarted():
            return f"run {event.run_id} started"
        case StepStarted():
            return f"[cyan]{event.step_id}[/]{item} started (attempt {event.attempt})"
        case StepCompleted():
            return f"[green]{event.step_id}[/]{item} completed in {event.duration.total_seconds():.2f}s"
        case StepRetrying():
            return f"[yellow]{event.step_id}[/] retrying after {event.error.code}"
        case StepSkipped():
            return f"[dim]{event.step_id} skipped: {event.reason}[/]"
        case StepFailed():
            return f"[red]{event.step_id} failed: {event.error.message}[/]"
        case RunCompleted():
            return f"[bold green]run completed[/] in {event.duration.total_seconds():.2f}s"
        case RunFailed():
            return f"[bold red]run failed[/] {event.error.code}: {event.error.message}"
        case RunCancelled():
            return f"[bold red]run cancelled[/] {event.reason}"
        case StepInputRequired():
            return f"[magenta]{event.request.step_id} asks:[/] {event.request.text}"
        case StepInputProvided():
            return f"[cyan]{event.step_id}[/] answered"
        case RunWaiting():
            return "[magenta]run waiting for input[/]"
        case StepSleeping():
            until = event.wake_time.isoformat(timespec="seconds") if event.wake_time else "?"
            return f"[blue]{event.step_id}[/] sleeps until {until}"
        case StepQueued():
            return f"[yellow]{event.step_id}[/] queued: {event.agent}'s {event.limit.replace('_', ' ')}"
        case StepChildStarted():
            return f"[cyan]{event.step_id}[/] started child run {event.child_run_id} ({event.workflow_name})"
    return ""


def _doer(step: workflow_pb2.Step) -> str:
    """What a step's row names in the agent column: its agent, or what it does instead."""
    if step.HasField("ask"):
        return "(ask)"
    if step.sleep or step.until:
        return "(sleep)"
    if step.workflow:
        return f"(workflow {step.workflow})"
    return step.agent


def event_json(event: Event) -> str:
    """One event as one compact JSON line, field names as in the protos (snake_case)."""
    data = json_format.MessageToDict(event.proto, preserving_proto_field_name=True)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def run_json(run: Run, indent: int | None = 2) -> str:
    data = json_format.MessageToDict(run.proto, preserving_proto_field_name=True)
    return json.dumps(data, indent=indent, ensure_ascii=False)


def print_outcome(console: Console, run: Run) -> None:
    if run.state == RunState.SUCCEEDED:
        outputs = dict(run.outputs)
        report = outputs.pop("report", None)
        if isinstance(report, str):
            console.rule("report")
            console.print(Markdown(report))
            console.rule()
        if outputs:
            console.print_json(data=outputs)
        console.print(f"[green]run {run.run_id} succeeded[/]", soft_wrap=True)
    elif run.state == RunState.FAILED and run.error is not None:
        where = f" in step {run.error.step_id}" if run.error.step_id else ""
        line = f"[red]run {run.run_id} failed{where}: {run.error.code}: {run.error.message}[/]"
        console.print(line, soft_wrap=True)
    else:
        console.print(f"[magenta]run {run.run_id} {run.state.value}[/]", soft_wrap=True)
    if run.usage.tokens:
        cost = f", cost {run.usage.cost:.4f}" if run.usage.cost else ""
        spent = f"tokens: {run.usage.input_tokens} in, {run.usage.output_tokens} out{cost}"
        console.print(f"[dim]{spent}[/]", soft_wrap=True)
