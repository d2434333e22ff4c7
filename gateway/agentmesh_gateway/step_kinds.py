"""What a step does: call an agent (the default), ask a person, sleep, or run a child workflow.

A step names exactly one of `agent`, `ask`, `sleep`/`until`, `workflow`; the fields that only
make sense for one kind (a skill, a retry policy, for_each) are refused on the others, so a
workflow says what it means. Durations in workflows are written as people write them ("90s",
"10m", "1h30m", "2d"), not as ProtoJSON's seconds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from agentmesh.errors import echo
from agentmesh.v1 import workflow_pb2
from agentmesh_gateway.limits import MAX_DURATION_SECONDS
from agentmesh_gateway.payloads import to_python

Kind = Literal["agent", "ask", "sleep", "workflow"]
Report = Callable[[str, str], None]

ROLES = ("viewer", "operator", "admin")
DEFAULT_ANSWER_ROLE = "operator"
#: An approval's answer: whether it is approved, and why (optional).
APPROVAL_SCHEMA = {
    "type": "object",
    "properties": {"approved": {"type": "boolean"}, "comment": {"type": "string"}},
    "required": ["approved"],
    "additionalProperties": False,
}
#: How deep sub-workflows may nest: a run at this depth cannot start a child.
MAX_DEPTH = 8

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def kind_of(step: workflow_pb2.Step) -> Kind:
    """The step's kind (a step naming none of the others calls an agent)."""
    if step.HasField("ask"):
        return "ask"
    if step.sleep or step.until:
        return "sleep"
    if step.workflow:
        return "workflow"
    return "agent"


def parse_duration(text: str) -> float:
    """Seconds in "90s", "10m", "1h30m", "1.5h", "250ms", "2d"; ValueError otherwise."""
    compact = text.strip().replace(" ", "")
    if not _DURATION.match(compact):
        raise ValueError(f"{echo(text)} is not a duration such as 90s, 10m, 1h30m or 2d")
    seconds = sum(float(amount) * _UNITS[unit] for amount, unit in _PART.findall(compact))
    if not math.isfinite(seconds) or seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"{echo(text)} is longer than {MAX_DURATION_SECONDS:,} seconds (a year)")
    return seconds


def as_duration(value: object) -> float:
    """An expression's result as seconds: a duration string or a number of seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration must be a string such as 10m, or seconds as a number")
    if isinstance(value, int | float):
        if not math.isfinite(value) or not 0 <= value <= MAX_DURATION_SECONDS:
            raise ValueError(f"{value!r} seconds is not between 0 and {MAX_DURATION_SECONDS:,}")
        return float(value)
    if isinstance(value, str):
        return parse_duration(value)
    raise ValueError(f"a duration must be a string such as 10m, not a {type(value).__name__}")


def parse_time(value: object) -> datetime:
    """An RFC 3339 time (with its offset; "Z" for UTC) as an aware datetime; ValueError otherwise."""
    if not isinstance(value, str):
        raise ValueError(f"until must be an RFC 3339 time, not a {type(value).__name__}")
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{echo(value)} is not an RFC 3339 time such as 2027-01-31T09:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"{echo(value)} has no UTC offset (add Z or +01:00)")
    return moment.astimezone(UTC)


def answer_schema(ask: workflow_pb2.AskStep) -> dict[str, object] | None:
    """The JSON Schema answers to an ask step must fit (None: any answer)."""
    if ask.approval:
        return dict(APPROVAL_SCHEMA)
    return to_python(ask.schema) if ask.HasField("schema") else None


def check_step_kind(
    path: str,
    step: workflow_pb2.Step,
    agents: Collection[str],
    workflows: Collection[str],
    report: Report,
) -> None:
    """Report what is wrong with the step's kind and the fields that go with it."""
    named = [
        name
        for name, given in (
            ("agent", bool(step.agent)),
            ("ask", step.HasField("ask")),
            ("sleep", bool(step.sleep)),
            ("until", bool(step.until)),
            ("workflow", bool(step.workflow)),
        )
        if given
    ]
    if not named:
        report(f"{path}.agent", "is required (or one of ask, sleep, until, workflow)")
        return
    if len(named) > 1:
        report(f"{path}.{named[1]}", f"a step does one thing: it names {' and '.join(named)}")
        return
    kind = kind_of(step)
    _check_fields(path, step, kind, report)
    if kind == "agent" and step.agent not in agents:
        known = ", ".join(sorted(agents)) or "none"
        report(f"{path}.agent", f"unknown agent {echo(step.agent)}; the gateway knows: {known}")
    elif kind == "workflow":
        name = step.workflow.partition("@")[0]
        if name not in workflows:
            known = ", ".join(sorted(workflows)) or "none"
            report(f"{path}.workflow", f"unknown workflow {echo(name)}; the gateway knows: {known}")
    elif kind == "sleep":
        _check_sleep(path, step, report)
    elif kind == "ask":
        _check_ask(f"{path}.ask", step.ask, report)


def _check_fields(path: str, step: workflow_pb2.Step, kind: Kind, report: Report) -> None:
    """Fields that only one kind of step has."""
    only = {
        "skill": (bool(step.skill), ("agent",)),
        "retry": (step.HasField("retry"), ("agent",)),
        "timeout": (step.HasField("timeout"), ("agent", "workflow")),
        "input": (bool(step.input.fields), ("agent", "workflow")),
        "for_each": (bool(step.for_each), ("agent", "workflow")),
    }
    for name, (given, kinds) in only.items():
        if given and kind not in kinds:
            allowed = " and ".join(f"{k} steps" for k in kinds)
            report(
                f"{path}.{name}",
                f"only {allowed} have one; this is a{'n' if kind == 'ask' else ''} {kind} step",
            )


def _check_sleep(path: str, step: workflow_pb2.Step, report: Report) -> None:
    if step.sleep and "${" not in step.sleep:
        try:
            parse_duration(step.sleep)
        except ValueError as exc:
            report(f"{path}.sleep", str(exc))
    if step.until and "${" not in step.until:
        try:
            parse_time(step.until)
        except ValueError as exc:
            report(f"{path}.until", str(exc))


def _check_ask(path: str, ask: workflow_pb2.AskStep, report: Report) -> None:
    if not ask.question.strip():
        report(f"{path}.question", "is required")
    if ask.approval and ask.HasField("schema"):
        report(f"{path}.schema", "an approval's answer has its own schema: give approval or schema, not both")
    elif ask.HasField("schema"):
        try:
            Draft202012Validator.check_schema(to_python(ask.schema))
        except SchemaError as exc:
            report(f"{path}.schema", f"is not a JSON Schema: {echo(exc.message, 200)}")
    if ask.role and ask.role not in ROLES:
        report(f"{path}.role", f"{echo(ask.role)} is not a role; choose {', '.join(ROLES)}")
    for k, principal in enumerate(ask.principals):
        if not principal.strip():
            report(f"{path}.principals[{k}]", "must not be empty")
    if ask.timeout:
        try:
            parse_duration(ask.timeout)
        except ValueError as exc:
            report(f"{path}.timeout", str(exc))
    if ask.HasField("default_answer"):
        if not ask.timeout:
            report(f"{path}.default_answer", "is taken when the timeout passes: give a timeout too")
        schema = answer_schema(ask)
        answer = to_python(ask.default_answer)
        if schema is not None and not isinstance(answer, str):
            for error in Draft202012Validator(schema).iter_errors(answer):
                report(
                    f"{path}.default_answer", f"does not fit the answer's schema: {echo(error.message, 200)}"
                )
                break
