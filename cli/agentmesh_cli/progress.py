"""Live progress of a run: a row per step with state, attempt, fan-out items and duration."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from google.protobuf import json_format
from rich.console import Console
from rich.markdown import Markdown
from rich.table import Table

from agentmesh.messages import struct_to_dict
from agentmesh.v1 import run_pb2

_STYLE = {
    "pending": "dim",
    "running": "cyan",
    "retrying": "yellow",
    "succeeded": "green",
    "failed": "red",
    "skipped": "dim",
    "cancelled": "magenta",
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
    def __init__(self, run: run_pb2.Run) -> None:
        self.run_id = run.run_id
        self.workflow = run.workflow.name or "inline"
        self.rows = {s.id: StepRow(s.id, s.agent) for s in run.workflow.steps}
        self.last_sequence = 0
        self.outcome: run_pb2.RunEvent | None = None

    def apply(self, event: run_pb2.RunEvent) -> None:
        self.last_sequence = event.sequence
        kind = event.WhichOneof("event")
        body = getattr(event, kind or "")
        row = self.rows.get(getattr(body, "step_id", ""))
        match kind:
            case "step_started" if row:
                row.state, row.attempt, row.note = "running", max(row.attempt, body.attempt), ""
                row.items_total = body.items_total
                row.started = row.started or time.monotonic()
            case "step_retrying" if row:
                row.state = "retrying"
                delay = body.delay.ToTimedelta().total_seconds()
                row.note = f"attempt {body.attempt} failed ({body.error.code}); retry in {delay:.1f}s"
            case "step_completed" if row and body.HasField("item"):
                row.items_done += 1
            case "step_completed" if row:
                row.state, row.note = "succeeded", ""
                row.seconds = time.monotonic() - row.started if row.started else None
            case "step_failed" if row:
                row.state, row.note = "failed", f"{body.error.code}: {body.error.message}"[:80]
            case "step_skipped" if row:
                row.state, row.note = "skipped", body.reason[:80]
            case "run_completed" | "run_failed" | "run_cancelled":
                self.outcome = event
                for other in self.rows.values():
                    if other.state in ("pending", "running", "retrying") and kind != "run_completed":
                        other.state = "cancelled"

    def table(self) -> Table:
        table = Table(title=f"{self.workflow} · run {self.run_id}", title_justify="left")
        for column in ("step", "agent", "state", "attempt", "items", "time", ""):
            table.add_column(column)
        for row in self.rows.values():
            items = f"{row.items_done}/{row.items_total}" if row.items_total else ""
            elapsed = (
                row.seconds
                if row.seconds is not None
                else (
                    time.monotonic() - row.started
                    if row.started and row.state in ("running", "retrying")
                    else None
                )
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


def event_json(event: run_pb2.RunEvent) -> str:
    """One event as one line of JSON (ProtoJSON, compact)."""
    return json.dumps(json_format.MessageToDict(event), separators=(",", ":"), ensure_ascii=False)


def print_outcome(console: Console, run: run_pb2.Run) -> None:
    state = run_pb2.RunState.Name(run.state).removeprefix("RUN_STATE_").lower()
    if run.state == run_pb2.RUN_STATE_SUCCEEDED:
        outputs = struct_to_dict(run.outputs)
        report = outputs.pop("report", None)
        if isinstance(report, str):
            console.rule("report")
            console.print(Markdown(report))
            console.rule()
        if outputs:
            console.print_json(data=outputs)
        console.print(f"[green]run {run.run_id} succeeded[/]")
    elif run.state == run_pb2.RUN_STATE_FAILED:
        where = f" in step {run.error.step_id}" if run.error.step_id else ""
        console.print(f"[red]run {run.run_id} failed{where}: {run.error.code}: {run.error.message}[/]")
    else:
        console.print(f"[magenta]run {run.run_id} {state}[/]")
