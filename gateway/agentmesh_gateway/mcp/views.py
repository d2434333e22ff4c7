"""Runs and errors as the JSON MCP tools answer with, each answer bounded in size.

A run's snapshot can hold up to 16 MiB (every step's output and text); an MCP answer is read by a
model, and repeated as text next to its structured content. `run_view` keeps a run's shape (its
state, each step's state and error, up to MAX_QUESTIONS of the questions it waits on), and its
values (outputs, inputs, steps' outputs, texts and files' names) while they fit in
MAX_RUN_VIEW_BYTES, naming what it left out.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import partial
from typing import Any

from google.protobuf import timestamp_pb2

from agentmesh.errors import AgentMeshError, ResourceExhausted
from agentmesh.messages import Message
from agentmesh.status import (
    MAX_FIELD_PATH_BYTES,
    MAX_FIELD_VIOLATIONS,
    MAX_STATUS_MESSAGE_BYTES,
    MAX_VIOLATION_DESCRIPTION_BYTES,
    cut,
)
from agentmesh.v1 import run_pb2
from agentmesh_gateway.limits import MiB
from agentmesh_gateway.mcp.files import files_view
from agentmesh_gateway.payloads import to_python

#: What the values of one run view may add up to (as JSON).
MAX_RUN_VIEW_BYTES = 2 * MiB
#: Bytes of an agent's question (and of its answer's schema) a view repeats, and how many questions.
MAX_QUESTION_BYTES = 2048
MAX_QUESTIONS = 20
#: Bytes of a run's error message a view repeats (a run keeps 2,000 characters), of a step's.
MAX_ERROR_BYTES = 8 * 1024
MAX_STEP_ERROR_BYTES = 1024
#: Bytes of a tool answer's text beyond which the text is cut (its structured content is whole).
MAX_TEXT_BYTES = 2 * MiB


def state_name(state: int) -> str:
    return run_pb2.RunState.Name(state).removeprefix("RUN_STATE_")  # type: ignore[arg-type]


def step_state_name(state: int) -> str:
    return run_pb2.StepState.Name(state).removeprefix("STEP_STATE_")  # type: ignore[arg-type]


def state_number(name: str) -> int:
    return int(run_pb2.RunState.Value("RUN_STATE_" + name.upper()))


def timestamp(value: timestamp_pb2.Timestamp) -> str | None:
    return value.ToJsonString() if value.seconds or value.nanos else None


def error_view(error: run_pb2.RunError, limit: int = MAX_ERROR_BYTES) -> dict[str, Any]:
    view: dict[str, Any] = {"code": error.code, "message": cut(error.message, limit)}
    if error.reason:
        view["reason"] = error.reason
    if error.step_id:
        view["step_id"] = error.step_id
    return view


def run_summary(run: run_pb2.Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "workflow": run.workflow.name,
        "state": state_name(run.state),
        "create_time": timestamp(run.create_time),
        "end_time": timestamp(run.end_time),
        "error": error_view(run.error) if run.HasField("error") else None,
    }


def run_view(run: run_pb2.Run, budget: int = MAX_RUN_VIEW_BYTES) -> dict[str, Any]:
    """The run as get_run answers: its shape (each step's state and error, at most MAX_QUESTIONS
    of its questions), then its values while they fit in `budget`, the most wanted first."""
    view = run_summary(run)
    view["start_time"] = timestamp(run.start_time)
    omitted: list[str] = []
    questions = MAX_QUESTIONS
    steps = []
    for step in run.steps:
        shape = _step_shape(step)
        if step.pending_input:
            asked = list(step.pending_input)
            shape["waiting_for"] = [question_view(request) for request in asked[:questions]]
            if len(asked) > questions:
                omitted.append(f"steps.{step.step_id}.waiting_for[{questions}:]")
            questions = max(0, questions - len(asked))
        steps.append(shape)
    view["steps"] = steps
    # (where a value goes, its key there, its path in the run, how to read it)
    values: list[tuple[dict[str, Any], str, str, Callable[[], Any]]] = []
    if run.state == run_pb2.RUN_STATE_SUCCEEDED:
        values.append((view, "outputs", "outputs", partial(to_python, run.outputs)))
    for shape, step in zip(steps, run.steps, strict=True):
        if step.HasField("output"):
            path = f"steps.{step.step_id}.output"
            values.append((shape, "output", path, partial(to_python, step.output)))
        if step.text:
            values.append((shape, "text", f"steps.{step.step_id}.text", partial(str, step.text)))
        if step.files:  # their names, types and sizes: a model has no use for the bytes here
            path = f"steps.{step.step_id}.files"
            values.append((shape, "files", path, partial(files_view, run.run_id, step)))
    values.append((view, "inputs", "inputs", partial(to_python, run.inputs)))
    left = budget - _size(view)
    for holder, key, path, read in values:
        value = read()
        size = _size(value)
        if size <= left:
            holder[key] = value
            left -= size
        else:
            holder[key] = None
            omitted.append(path)
    view.setdefault("outputs", None)
    if omitted:
        view["omitted"] = omitted
    return view


def _step_shape(step: run_pb2.StepRun) -> dict[str, Any]:
    shape: dict[str, Any] = {"step_id": step.step_id, "state": step_state_name(step.state)}
    if step.attempts:
        shape["attempts"] = step.attempts
    if step.items_total:
        shape["items_total"], shape["items_done"] = step.items_total, step.items_done
    if step.HasField("error"):
        shape["error"] = error_view(step.error, MAX_STEP_ERROR_BYTES)
    return shape


def question_view(request: run_pb2.InputRequest) -> dict[str, Any]:
    view: dict[str, Any] = {
        "step_id": request.step_id,
        "question": cut(Message.from_proto(request.question).text, MAX_QUESTION_BYTES),
    }
    if request.HasField("item"):
        view["item"] = request.item
    if request.HasField("answer_schema"):
        schema = to_python(request.answer_schema)
        if _size(schema) <= MAX_QUESTION_BYTES:
            view["answer_schema"] = schema
    return view


def error_of(exc: AgentMeshError) -> dict[str, Any]:
    """An engine error as a tool answer's `_meta` carries it: bounded as the gRPC status is."""
    body: dict[str, Any] = {
        "code": exc.code.name,
        "reason": exc.reason,
        "message": cut(exc.message, MAX_STATUS_MESSAGE_BYTES),
    }
    violations = getattr(exc, "violations", ())
    if violations:
        body["violations"] = [
            {
                "field": cut(v.field, MAX_FIELD_PATH_BYTES),
                "description": cut(v.description, MAX_VIOLATION_DESCRIPTION_BYTES),
            }
            for v in violations[:MAX_FIELD_VIOLATIONS]
        ]
    if isinstance(exc, ResourceExhausted) and exc.retry_delay is not None:
        body["retry_delay_seconds"] = exc.retry_delay
    return body


def error_text(body: dict[str, Any]) -> str:
    """What a tool error says to a model: the code and message, then each invalid field."""
    lines = [f"{body['code']}: {body['message']}"]
    lines += [f"- {v['field']}: {v['description']}" for v in body.get("violations", ())]
    if "retry_delay_seconds" in body:
        lines.append(f"Try again in {body['retry_delay_seconds']:g}s.")
    return "\n".join(lines)


def json_text(value: Any) -> str:
    """The value as JSON text, cut (with a note) past MAX_TEXT_BYTES."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) <= MAX_TEXT_BYTES:
        return text
    note = " (cut short: the whole value is in the structured content)"
    return cut(text, MAX_TEXT_BYTES - len(note.encode())) + note


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
