"""Workflow validation: every problem found at once, each as a field violation with a path.

The cheap bounds come first (size, step count): nothing that costs more than the
workflow's length runs on a workflow past them. Values a caller sent are quoted
cut short (`echo`) so that an error is never as large as the request.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf import duration_pb2, struct_pb2

from agentmesh.errors import FieldViolation, InvalidInput, echo
from agentmesh.v1 import workflow_pb2
from agentmesh_gateway import expressions, templates
from agentmesh_gateway.limits import (
    MAX_DURATION_SECONDS,
    MAX_JSON_DEPTH,
    MAX_RUN_INPUT_BYTES,
    MAX_STEPS,
    MAX_WORKFLOW_BYTES,
    LimitExceeded,
    check_value,
)
from agentmesh_gateway.payloads import RunData, to_python
from agentmesh_gateway.retry import CODE_NAMES
from agentmesh_gateway.step_kinds import check_step_kind

_STEP_ID = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_INPUT_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MAX_ATTEMPTS = 100
MAX_BACKOFF_MULTIPLIER = 100
MAX_NAME_CHARS = 128


@dataclass
class _Report:
    prefix: str
    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(f"{self.prefix}{path}", description))


def validate(
    workflow: workflow_pb2.Workflow,
    agents: Collection[str],
    workflows: Collection[str] = (),
    *,
    prefix: str = "workflow.",
) -> list[str]:
    """Raise InvalidInput listing every problem; return the step ids in an order respecting
    dependencies. `agents` and `workflows`: the names steps may call."""
    check_size(workflow, prefix)
    report = _Report(prefix)
    steps = list(workflow.steps)
    if not steps:
        report.add("steps", "a workflow needs at least one step")
    if len(workflow.name) > MAX_NAME_CHARS:
        report.add("name", f"at most {MAX_NAME_CHARS} characters")
    ids = _check_ids(steps, report)
    declared_inputs = _check_inputs(workflow, report)
    for i, step in enumerate(steps):
        _check_step(i, step, ids, agents, workflows, report)
    order, cycle = _topological_order(steps, ids)
    if cycle:
        report.add("steps", "dependencies form a cycle: " + " → ".join(cycle))
    ancestors = _ancestors(order, steps, ids) if not cycle else {}
    for i, step in enumerate(steps):
        _check_expressions(i, step, ids, ancestors.get(step.id, 0), declared_inputs, report)
    _check_outputs(workflow, ids, declared_inputs, report)
    if workflow.HasField("timeout"):
        _check_duration("timeout", workflow.timeout, report, positive=True)
    if workflow.HasField("budget"):
        _check_budget(workflow.budget, report)
    if report.violations:
        noun = "problem" if len(report.violations) == 1 else "problems"
        summary = "; ".join(f"{v.field}: {v.description}" for v in report.violations[:5])
        raise InvalidInput(
            f"invalid workflow ({len(report.violations)} {noun}): {summary}",
            report.violations,
            reason="INVALID_WORKFLOW",
        )
    return order


def path_key(name: str, limit: int = 64) -> str:
    """A caller's key as part of a field path, cut short like any echoed value."""
    return name if len(name) <= limit else f"{name[: limit - 1]}…"


def check_size(workflow: workflow_pb2.Workflow, prefix: str = "workflow.") -> None:
    """Refuse at once, before any other work, a workflow past the size or step limits."""
    if len(workflow.steps) > MAX_STEPS:
        problem = (f"{prefix}steps", f"at most {MAX_STEPS} steps (this one has {len(workflow.steps):,})")
    elif (size := workflow.ByteSize()) > MAX_WORKFLOW_BYTES:
        problem = (prefix.rstrip("."), f"at most {MAX_WORKFLOW_BYTES:,} bytes (this one has {size:,})")
    else:
        return
    raise InvalidInput(
        f"invalid workflow: {problem[0]}: {problem[1]}", [FieldViolation(*problem)], reason="INVALID_WORKFLOW"
    )


def _check_ids(steps: Sequence[workflow_pb2.Step], report: _Report) -> dict[str, int]:
    ids: dict[str, int] = {}
    for i, step in enumerate(steps):
        if not _STEP_ID.match(step.id):
            report.add(f"steps[{i}].id", "must match [a-z][a-z0-9_-]* (at most 63 characters)")
        elif step.id in ids:
            report.add(f"steps[{i}].id", f"duplicates the id of steps[{ids[step.id]}]")
        else:
            ids[step.id] = i
    return ids


def _check_inputs(workflow: workflow_pb2.Workflow, report: _Report) -> set[str] | None:
    if not workflow.inputs:
        return None  # undeclared: any input may be referred to
    names: set[str] = set()
    for i, declared in enumerate(workflow.inputs):
        if not _INPUT_NAME.match(declared.name):
            report.add(f"inputs[{i}].name", "must match [a-z_][a-z0-9_]*")
        elif declared.name in names:
            report.add(f"inputs[{i}].name", f"duplicate input {echo(declared.name)}")
        names.add(declared.name)
        if declared.HasField("default_value"):
            _check_json(f"inputs[{i}].default_value", to_python(declared.default_value), report)
    return names


def _check_step(
    i: int,
    step: workflow_pb2.Step,
    ids: Mapping[str, int],
    agents: Collection[str],
    workflows: Collection[str],
    report: _Report,
) -> None:
    path = f"steps[{i}]"
    check_step_kind(path, step, agents, workflows, report.add)
    for j, dependency in enumerate(step.dependencies):
        if dependency == step.id:
            report.add(f"{path}.dependencies[{j}]", "a step cannot depend on itself")
        elif dependency not in ids:
            report.add(f"{path}.dependencies[{j}]", f"unknown step {echo(dependency)}")
    _check_json(f"{path}.input", to_python(step.input), report)
    if step.HasField("timeout"):
        _check_duration(f"{path}.timeout", step.timeout, report, positive=True)
    if step.HasField("retry"):
        _check_retry(f"{path}.retry", step.retry, report)


def _check_budget(budget: workflow_pb2.Budget, report: _Report) -> None:
    if budget.tokens < 0:
        report.add("budget.tokens", "must not be negative")
    if not (math.isfinite(budget.cost) and budget.cost >= 0):
        report.add("budget.cost", "must be a number, not negative")
    if not budget.tokens and not budget.cost:
        report.add("budget", "give tokens, cost or both")


def _check_json(path: str, value: object, report: _Report) -> None:
    try:
        check_value(value, path, MAX_WORKFLOW_BYTES, MAX_JSON_DEPTH)
    except LimitExceeded:
        report.add(path, f"is nested more than {MAX_JSON_DEPTH} levels deep")


def _check_duration(path: str, duration: duration_pb2.Duration, report: _Report, *, positive: bool) -> None:
    """A well-formed protobuf Duration within [0 or more than 0, MAX_DURATION_SECONDS]."""
    seconds, nanos = duration.seconds, duration.nanos
    if not -999_999_999 <= nanos <= 999_999_999 or (seconds > 0 > nanos) or (seconds < 0 < nanos):
        report.add(path, "is not a valid duration (nanos out of range or of the wrong sign)")
        return
    total = seconds + nanos / 1e9
    if total < 0 or (positive and total == 0):
        report.add(path, "must be positive" if positive else "must not be negative")
    elif total > MAX_DURATION_SECONDS:
        report.add(path, f"must be at most {MAX_DURATION_SECONDS:,} seconds (a year)")


def _check_retry(path: str, retry: workflow_pb2.RetryPolicy, report: _Report) -> None:
    if not 0 <= retry.max_attempts <= MAX_ATTEMPTS:
        report.add(f"{path}.max_attempts", f"must be between 1 and {MAX_ATTEMPTS} (0 for the default)")
    for name in ("initial_delay", "max_delay"):
        if retry.HasField(name):
            _check_duration(f"{path}.{name}", getattr(retry, name), report, positive=False)
    if retry.HasField("max_delay") and retry.HasField("initial_delay"):
        initial, maximum = retry.initial_delay, retry.max_delay
        if (maximum.seconds, maximum.nanos) < (initial.seconds, initial.nanos):
            report.add(f"{path}.max_delay", "must not be shorter than initial_delay")
    multiplier = retry.backoff_multiplier
    if multiplier and not (math.isfinite(multiplier) and 1 <= multiplier <= MAX_BACKOFF_MULTIPLIER):
        report.add(f"{path}.backoff_multiplier", f"must be between 1 and {MAX_BACKOFF_MULTIPLIER}")
    if not (math.isfinite(retry.jitter) and 0 <= retry.jitter <= 1):
        report.add(f"{path}.jitter", "must be between 0 and 1")
    for k, code in enumerate(retry.non_retryable_codes):
        if code not in CODE_NAMES:
            report.add(f"{path}.non_retryable_codes[{k}]", f"{echo(code)} is not a gRPC status code name")


def _step_expressions(step: workflow_pb2.Step) -> Iterator[tuple[str, str | expressions.ExpressionError]]:
    """(field path suffix, expression) for every expression of a step; a template that does
    not scan (an unclosed `${`) comes as its error instead."""
    for key, value in to_python(step.input).items():
        try:
            for expression in templates.expressions_in(value):
                yield f"input.{key}", expression
        except expressions.ExpressionError as exc:
            yield f"input.{key}", exc
    if step.when:
        yield "when", templates.unwrap(step.when)
    if step.for_each:
        yield "for_each", templates.unwrap(step.for_each)
    texts = (("sleep", step.sleep), ("until", step.until), ("ask.question", step.ask.question))
    for suffix, text in texts:
        try:
            for expression in templates.expressions_in(text):
                yield suffix, expression
        except expressions.ExpressionError as exc:
            yield suffix, exc


def _check_expressions(
    i: int,
    step: workflow_pb2.Step,
    ids: Mapping[str, int],
    ancestors: int,
    declared_inputs: set[str] | None,
    report: _Report,
) -> None:
    for suffix, expression in _step_expressions(step):
        path = f"steps[{i}].{path_key(suffix)}"
        try:
            if isinstance(expression, expressions.ExpressionError):
                raise expression
            steps, inputs, roots = expressions.references(expression)
        except expressions.ExpressionError as exc:
            report.add(path, str(exc))
            continue
        for ref in sorted(steps):
            if ref not in ids:
                report.add(path, f"refers to unknown step {echo(ref)}")
            elif not ancestors >> ids[ref] & 1:
                report.add(path, f"refers to step {echo(ref)}, which {step.id!r} does not depend on")
        _check_input_refs(path, inputs, declared_inputs, report)
        fan_out_only = roots & {"item", "index"}
        if fan_out_only and (not step.for_each or suffix == "for_each"):
            report.add(
                path, f"uses {sorted(fan_out_only)[0]!r}, which only a for_each step's input and when have"
            )


def _check_input_refs(path: str, inputs: set[str], declared: set[str] | None, report: _Report) -> None:
    if declared is None:
        return
    for name in sorted(inputs - declared):
        report.add(path, f"refers to undeclared input {echo(name)}")


def _check_outputs(
    workflow: workflow_pb2.Workflow, ids: Mapping[str, int], declared: set[str] | None, report: _Report
) -> None:
    outputs = to_python(workflow.outputs)
    _check_json("outputs", outputs, report)
    for key, value in outputs.items():
        path = f"outputs.{path_key(key)}"
        try:
            for expression in templates.expressions_in(value):
                steps, inputs, roots = expressions.references(expression)
                for ref in sorted(steps - ids.keys()):
                    report.add(path, f"refers to unknown step {echo(ref)}")
                _check_input_refs(path, inputs, declared, report)
                if roots & {"item", "index"}:
                    report.add(path, "item and index exist only inside a for_each step")
        except expressions.ExpressionError as exc:
            report.add(path, str(exc))


def _topological_order(
    steps: Sequence[workflow_pb2.Step], ids: Mapping[str, int]
) -> tuple[list[str], list[str]]:
    """Kahn's order (stable in declaration order), or an empty order and one cycle, named."""
    graph = {s.id: [d for d in s.dependencies if d in ids and d != s.id] for s in steps if s.id in ids}
    remaining = {sid: len(deps) for sid, deps in graph.items()}
    dependents: dict[str, list[str]] = {sid: [] for sid in graph}
    for sid, deps in graph.items():
        for dep in deps:
            dependents[dep].append(sid)
    ready = [sid for sid in graph if remaining[sid] == 0]
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for child in dependents[current]:
            remaining[child] -= 1
            if remaining[child] == 0:
                ready.append(child)
    if len(order) == len(graph):
        return order, []
    return [], _find_cycle(graph, {sid for sid, left in remaining.items() if left > 0})


def _find_cycle(graph: Mapping[str, list[str]], stuck: set[str]) -> list[str]:
    """Walk dependencies inside the stuck set until a step repeats; that loop is a cycle."""
    start = min(stuck)
    path: list[str] = []
    seen: dict[str, int] = {}
    current = start
    while current not in seen:
        seen[current] = len(path)
        path.append(current)
        current = next(dep for dep in graph[current] if dep in stuck)
    loop = path[seen[current] :]
    # Present it in execution direction (a → b: b depends on a), from its smallest id.
    loop.reverse()
    first = loop.index(min(loop))
    loop = loop[first:] + loop[:first]
    return [*loop, loop[0]]


def _ancestors(
    order: Sequence[str], steps: Sequence[workflow_pb2.Step], ids: Mapping[str, int]
) -> dict[str, int]:
    """Each step's ancestors as a bit set over step indexes, in one pass in execution order.

    Sets of ids would hold n²/2 entries for a chain of n steps (gigabytes at 10,000);
    integers as bit sets take n²/8 bytes at most, and are OR-ed in C.
    """
    by_id = {s.id: s for s in steps if s.id in ids}
    found: dict[str, int] = {}
    for sid in order:
        bits = 0
        for dep in by_id[sid].dependencies:
            if dep in found:
                bits |= found[dep] | 1 << ids[dep]
        found[sid] = bits
    return found


def apply_inputs(workflow: workflow_pb2.Workflow, given: RunData) -> RunData:
    """The run's inputs: the given ones plus declared defaults; a missing required input is invalid.
    Read and added in the form the inputs came in: nothing is converted here."""
    names = set(given.names())
    defaults: dict[str, struct_pb2.Value] = {}
    violations = []
    for declared in workflow.inputs:
        if declared.name in names:
            continue
        if declared.HasField("default_value"):
            defaults[declared.name] = declared.default_value
        elif declared.required:
            violations.append(FieldViolation(f"inputs.{declared.name}", "is required by the workflow"))
    if workflow.inputs:
        known = {d.name for d in workflow.inputs}
        violations += [
            FieldViolation(f"inputs.{path_key(name)}", "is not an input of the workflow")
            for name in sorted(names)
            if name not in known
        ]
    if violations:
        raise InvalidInput(
            "invalid run inputs: " + "; ".join(f"{v.field} {v.description}" for v in violations[:5]),
            violations,
            reason="INVALID_INPUTS",
        )
    return given.with_values(defaults)


def check_run_data(inputs: RunData, shared: RunData) -> None:
    """Refuse run inputs and shared context beyond MAX_RUN_INPUT_BYTES together, or nested too deep."""
    violations = []
    total = 0
    for path, data in (("inputs", inputs), ("context.shared", shared)):
        value = data.python  # the form the run's expressions read: converted here once
        try:
            total += check_value(value, path, MAX_RUN_INPUT_BYTES)
        except LimitExceeded as exc:
            violations.append(FieldViolation(path, str(exc).removeprefix(f"{path} ")))
    if not violations and total > MAX_RUN_INPUT_BYTES:
        together = f"is larger than {MAX_RUN_INPUT_BYTES:,} bytes together with context.shared"
        violations.append(FieldViolation("inputs", together))
    if violations:
        message = "; ".join(f"{v.field} {v.description}" for v in violations)
        raise InvalidInput(f"invalid run: {message}", violations, reason="INVALID_INPUTS")
