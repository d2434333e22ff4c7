"""Workflow validation: every problem found at once, each as a field violation with a path."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentmesh.errors import FieldViolation, InvalidInput
from agentmesh.messages import struct_to_dict, value_to_python
from agentmesh.v1 import workflow_pb2
from gateway import expressions
from gateway.retry import CODE_NAMES

_STEP_ID = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_INPUT_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
MAX_STEPS = 1000
MAX_ATTEMPTS = 100


@dataclass
class _Report:
    prefix: str
    violations: list[FieldViolation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.violations.append(FieldViolation(f"{self.prefix}{path}", description))


def validate(
    workflow: workflow_pb2.Workflow, agents: Collection[str], *, prefix: str = "workflow."
) -> list[str]:
    """Raise InvalidInput listing every problem; return the step ids in an order respecting dependencies."""
    report = _Report(prefix)
    steps = list(workflow.steps)
    if not steps:
        report.add("steps", "a workflow needs at least one step")
    if len(steps) > MAX_STEPS:
        report.add("steps", f"at most {MAX_STEPS} steps")
    ids = _check_ids(steps, report)
    declared_inputs = _check_inputs(workflow, report)
    for i, step in enumerate(steps):
        _check_step(i, step, ids, agents, report)
    order, cycle = _topological_order(steps, ids)
    if cycle:
        report.add("steps", "dependencies form a cycle: " + " → ".join(cycle))
    ancestors = _ancestors(steps, ids) if not cycle else {}
    for i, step in enumerate(steps):
        _check_expressions(i, step, ids, ancestors.get(step.id, set()), declared_inputs, report)
    _check_outputs(workflow, ids, declared_inputs, report)
    if workflow.HasField("timeout") and workflow.timeout.ToTimedelta().total_seconds() <= 0:
        report.add("timeout", "must be positive")
    if report.violations:
        noun = "problem" if len(report.violations) == 1 else "problems"
        summary = "; ".join(f"{v.field}: {v.description}" for v in report.violations[:5])
        raise InvalidInput(
            f"invalid workflow ({len(report.violations)} {noun}): {summary}",
            report.violations,
            reason="INVALID_WORKFLOW",
        )
    return order


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
            report.add(f"inputs[{i}].name", f"duplicate input {declared.name!r}")
        names.add(declared.name)
    return names


def _check_step(
    i: int, step: workflow_pb2.Step, ids: Mapping[str, int], agents: Collection[str], report: _Report
) -> None:
    path = f"steps[{i}]"
    if not step.agent:
        report.add(f"{path}.agent", "is required")
    elif step.agent not in agents:
        known = ", ".join(sorted(agents)) or "none"
        report.add(f"{path}.agent", f"unknown agent {step.agent!r}; the gateway knows: {known}")
    for j, dependency in enumerate(step.dependencies):
        if dependency == step.id:
            report.add(f"{path}.dependencies[{j}]", "a step cannot depend on itself")
        elif dependency not in ids:
            report.add(f"{path}.dependencies[{j}]", f"unknown step {dependency!r}")
    if step.HasField("timeout") and step.timeout.ToTimedelta().total_seconds() <= 0:
        report.add(f"{path}.timeout", "must be positive")
    if step.HasField("retry"):
        _check_retry(f"{path}.retry", step.retry, report)


def _check_retry(path: str, retry: workflow_pb2.RetryPolicy, report: _Report) -> None:
    if not 0 <= retry.max_attempts <= MAX_ATTEMPTS:
        report.add(f"{path}.max_attempts", f"must be between 1 and {MAX_ATTEMPTS} (0 for the default)")
    initial = retry.initial_delay.ToTimedelta().total_seconds()
    maximum = retry.max_delay.ToTimedelta().total_seconds()
    if initial < 0:
        report.add(f"{path}.initial_delay", "must not be negative")
    if maximum < 0:
        report.add(f"{path}.max_delay", "must not be negative")
    if retry.HasField("max_delay") and retry.HasField("initial_delay") and maximum < initial:
        report.add(f"{path}.max_delay", "must not be shorter than initial_delay")
    if retry.backoff_multiplier and retry.backoff_multiplier < 1:
        report.add(f"{path}.backoff_multiplier", "must be at least 1")
    if not 0 <= retry.jitter <= 1:
        report.add(f"{path}.jitter", "must be between 0 and 1")
    for k, code in enumerate(retry.non_retryable_codes):
        if code not in CODE_NAMES:
            report.add(f"{path}.non_retryable_codes[{k}]", f"{code!r} is not a gRPC status code name")


def _step_expressions(step: workflow_pb2.Step) -> Iterator[tuple[str, str]]:
    """(field path suffix, expression) for every expression of a step."""
    for key, value in struct_to_dict(step.input).items():
        for expression in expressions.expressions_in(value):
            yield f"input.{key}", expression
    if step.when:
        yield "when", expressions.unwrap(step.when)
    if step.for_each:
        yield "for_each", expressions.unwrap(step.for_each)


def _check_expressions(
    i: int,
    step: workflow_pb2.Step,
    ids: Mapping[str, int],
    ancestors: set[str],
    declared_inputs: set[str] | None,
    report: _Report,
) -> None:
    for suffix, expression in _step_expressions(step):
        path = f"steps[{i}].{suffix}"
        try:
            steps, inputs, roots = expressions.references(expression)
        except expressions.ExpressionError as exc:
            report.add(path, str(exc))
            continue
        for ref in sorted(steps):
            if ref not in ids:
                report.add(path, f"refers to unknown step {ref!r}")
            elif ref not in ancestors:
                report.add(path, f"refers to step {ref!r}, which {step.id!r} does not depend on")
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
        report.add(path, f"refers to undeclared input {name!r}")


def _check_outputs(
    workflow: workflow_pb2.Workflow, ids: Mapping[str, int], declared: set[str] | None, report: _Report
) -> None:
    for key, value in struct_to_dict(workflow.outputs).items():
        for expression in expressions.expressions_in(value):
            try:
                steps, inputs, roots = expressions.references(expression)
            except expressions.ExpressionError as exc:
                report.add(f"outputs.{key}", str(exc))
                continue
            for ref in sorted(steps - ids.keys()):
                report.add(f"outputs.{key}", f"refers to unknown step {ref!r}")
            _check_input_refs(f"outputs.{key}", inputs, declared, report)
            if roots & {"item", "index"}:
                report.add(f"outputs.{key}", "item and index exist only inside a for_each step")


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


def _ancestors(steps: Sequence[workflow_pb2.Step], ids: Mapping[str, int]) -> dict[str, set[str]]:
    memo: dict[str, set[str]] = {}
    by_id = {s.id: s for s in steps if s.id in ids}

    def visit(step_id: str) -> set[str]:
        if step_id not in memo:
            found: set[str] = set()
            for dep in by_id[step_id].dependencies:
                if dep in by_id and dep != step_id:
                    found |= {dep, *visit(dep)}
            memo[step_id] = found
        return memo[step_id]

    return {sid: visit(sid) for sid in by_id}


def apply_inputs(workflow: workflow_pb2.Workflow, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs: the given ones plus declared defaults; a missing required input is invalid."""
    inputs = dict(given)
    violations = []
    for declared in workflow.inputs:
        if declared.name in inputs:
            continue
        if declared.HasField("default_value"):
            inputs[declared.name] = value_to_python(declared.default_value)
        elif declared.required:
            violations.append(FieldViolation(f"inputs.{declared.name}", "is required by the workflow"))
    if workflow.inputs:
        known = {d.name for d in workflow.inputs}
        violations += [
            FieldViolation(f"inputs.{name}", "is not an input of the workflow")
            for name in given
            if name not in known
        ]
    if violations:
        raise InvalidInput(
            "invalid run inputs: " + "; ".join(f"{v.field} {v.description}" for v in violations),
            violations,
            reason="INVALID_INPUTS",
        )
    return inputs
