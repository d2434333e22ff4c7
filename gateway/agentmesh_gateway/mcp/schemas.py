"""The tools the gateway offers over MCP: each workflow by name, and the tools that read and cancel runs.

A workflow's tool is named after it (cut to MCP's tool-name rules when it does not fit them); its
input schema is built from the workflow's declared inputs, its output schema from its declared
outputs (or, when it declares none, from its last steps, whose outputs a run then returns).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from mcp_types import Tool, ToolAnnotations

from agentmesh.status import cut
from agentmesh.v1 import workflow_pb2
from agentmesh_gateway.payloads import to_python

GET_RUN, LIST_RUNS, CANCEL_RUN = "get_run", "list_runs", "cancel_run"
RUN_TOOLS = (GET_RUN, LIST_RUNS, CANCEL_RUN)
#: MCP's tool names (SEP-986): 1 to 128 of these characters.
MAX_TOOL_NAME = 128
_VALID_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")
_INVALID_CHARACTERS = re.compile(r"[^A-Za-z0-9._-]")
#: Bytes of a workflow's or an input's description that a tool repeats.
MAX_DESCRIPTION_BYTES = 4096
#: The `_meta` key naming the workflow a tool runs.
WORKFLOW_META = "agentmesh/workflow"

RUN_STATES = ("PENDING", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED", "WAITING_FOR_INPUT")
MAX_RUNS_PAGE = 100


def tool_names(workflow_names: Iterable[str]) -> dict[str, str]:
    """Tool name → workflow name, for every workflow: its own name where that is a valid tool
    name no other tool has, else the name with each character MCP does not allow made `_`, cut to
    128 characters and numbered (`_2`, `_3`, ...) if taken. The same workflows always get the same
    names."""
    taken = set(RUN_TOOLS)
    names: dict[str, str] = {}
    renamed: list[str] = []
    for workflow in sorted(workflow_names):
        if _VALID_NAME.fullmatch(workflow) and workflow not in taken:
            names[workflow] = workflow
            taken.add(workflow)
        else:
            renamed.append(workflow)
    for workflow in renamed:
        base = _INVALID_CHARACTERS.sub("_", workflow)[:MAX_TOOL_NAME] or "workflow"
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            suffix = f"_{number}"
            candidate = base[: MAX_TOOL_NAME - len(suffix)] + suffix
        names[candidate] = workflow
        taken.add(candidate)
    return names


def workflow_tool(name: str, workflow_name: str, workflow: workflow_pb2.Workflow) -> Tool:
    steps = len(workflow.steps)
    described = workflow.description.strip() or f"Runs the workflow {workflow_name!r}."
    description = (
        f"{cut(described, MAX_DESCRIPTION_BYTES)}\n\nStarts a run of the agentmesh workflow "
        f"{workflow_name!r} ({steps} step{'' if steps == 1 else 's'}), follows it to its end and returns "
        "its outputs; the run's id is in the result's _meta (agentmesh/run_id)."
    )
    return Tool(
        name=name,
        title=workflow_name if name != workflow_name else None,
        description=description,
        input_schema=input_schema(workflow),
        output_schema=output_schema(workflow),
        annotations=ToolAnnotations(read_only_hint=False, open_world_hint=True),
        _meta={WORKFLOW_META: workflow_name},
    )


def input_schema(workflow: workflow_pb2.Workflow) -> dict[str, Any]:
    """An object with a property per declared input (its description and default); inputs that
    are required and have no default are required. A workflow declaring none takes any object."""
    if not workflow.inputs:
        return {"type": "object"}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for declared in workflow.inputs:
        schema: dict[str, Any] = {}
        if declared.description:
            schema["description"] = cut(declared.description, MAX_DESCRIPTION_BYTES)
        if declared.HasField("default_value"):
            schema["default"] = to_python(declared.default_value)
        elif declared.required:
            required.append(declared.name)
        properties[declared.name] = schema
    found: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        found["required"] = required
    return found


def output_schema(workflow: workflow_pb2.Workflow) -> dict[str, Any]:
    """An object with each declared output (a run resolves every one, null or not); without
    declared outputs, each last step's output by step id, which is what such a run returns."""
    declared = to_python(workflow.outputs)
    if declared:
        names = sorted(declared)
        description = "The workflow's outputs."
    else:
        names = last_steps(workflow)
        description = "The outputs of the workflow's last steps, by step id."
    return {
        "type": "object",
        "description": description,
        "properties": {name: {} for name in names},
        "required": names,
    }


def last_steps(workflow: workflow_pb2.Workflow) -> list[str]:
    """The steps no other step depends on."""
    needed = {dependency for step in workflow.steps for dependency in step.dependencies}
    return [step.id for step in workflow.steps if step.id not in needed]


_RUN_ID = {"type": "string", "description": "The run's id."}
_RUN_SUMMARY: dict[str, Any] = {
    "type": "object",
    "properties": {
        "run_id": {"type": "string"},
        "workflow": {"type": "string"},
        "state": {"type": "string", "enum": list(RUN_STATES)},
        "create_time": {"type": ["string", "null"]},
        "end_time": {"type": ["string", "null"]},
        "error": {"type": ["object", "null"]},
    },
    "required": ["run_id", "workflow", "state"],
}
_RUN_VIEW: dict[str, Any] = {
    "type": "object",
    "properties": {
        **_RUN_SUMMARY["properties"],
        "start_time": {"type": ["string", "null"]},
        "inputs": {"type": ["object", "null"]},
        "outputs": {"type": ["object", "null"]},
        "steps": {"type": "array", "items": {"type": "object"}},
        "omitted": {
            "type": "array",
            "items": {"type": "string"},
            "description": "What was left out to keep the answer's size bounded (read it over gRPC).",
        },
    },
    "required": ["run_id", "workflow", "state", "steps"],
}


def run_tools() -> list[Tool]:
    return [
        Tool(
            name=GET_RUN,
            title="Get a run",
            description=(
                "A run of a workflow: its state, each step's state, output and error, its outputs once "
                "it succeeded, its error once it failed, and the questions it waits on."
            ),
            input_schema={
                "type": "object",
                "properties": {"run_id": _RUN_ID},
                "required": ["run_id"],
                "additionalProperties": False,
            },
            output_schema=_RUN_VIEW,
            annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        ),
        Tool(
            name=LIST_RUNS,
            title="List runs",
            description="Runs, newest first, a page at a time; optionally only those in one state.",
            input_schema={
                "type": "object",
                "properties": {
                    "state": {"type": "string", "enum": list(RUN_STATES), "description": "Only runs in it."},
                    "page_size": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": MAX_RUNS_PAGE,
                        "description": "Runs per page (default 20).",
                    },
                    "page_token": {
                        "type": "string",
                        "description": "The next_page_token of the previous page.",
                    },
                },
                "additionalProperties": False,
            },
            output_schema={
                "type": "object",
                "properties": {
                    "runs": {"type": "array", "items": _RUN_SUMMARY},
                    "next_page_token": {"type": "string", "description": "Empty on the last page."},
                },
                "required": ["runs", "next_page_token"],
            },
            annotations=ToolAnnotations(read_only_hint=True, open_world_hint=False),
        ),
        Tool(
            name=CANCEL_RUN,
            title="Cancel a run",
            description="Cancel a run that has not ended; its steps in flight are cancelled.",
            input_schema={
                "type": "object",
                "properties": {
                    "run_id": _RUN_ID,
                    "reason": {"type": "string", "description": "Why, as the run records it."},
                },
                "required": ["run_id"],
                "additionalProperties": False,
            },
            output_schema=_RUN_SUMMARY,
            annotations=ToolAnnotations(
                read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False
            ),
        ),
    ]


def all_tools(workflows: Mapping[str, workflow_pb2.Workflow]) -> list[Tool]:
    """Every tool, in a stable order: the run tools, then the workflows' by tool name."""
    names = tool_names(workflows)
    return [
        *run_tools(),
        *(workflow_tool(name, names[name], workflows[names[name]]) for name in sorted(names)),
    ]
