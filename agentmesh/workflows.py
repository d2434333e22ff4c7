"""Workflow files: YAML whose shape is the ProtoJSON of agentmesh.v1.Workflow.

The gateway loads its registered workflows with these, and clients their own.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from google.protobuf import json_format

from agentmesh.errors import InvalidInput
from agentmesh.v1 import workflow_pb2


def parse_workflow(text: str, source: str = "workflow") -> workflow_pb2.Workflow:
    """Parse YAML (or JSON) into a Workflow; unknown fields and wrong types are errors."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{source} is not valid YAML: {exc}", reason="INVALID_WORKFLOW_FILE") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{source} must hold a mapping (a Workflow)", reason="INVALID_WORKFLOW_FILE")
    try:
        return json_format.ParseDict(data, workflow_pb2.Workflow())
    except json_format.ParseError as exc:
        raise InvalidInput(f"{source}: {exc}", reason="INVALID_WORKFLOW_FILE") from None


def load_workflow(path: Path) -> workflow_pb2.Workflow:
    return parse_workflow(path.read_text(), str(path))


def load_directory(directory: Path) -> dict[str, workflow_pb2.Workflow]:
    """Every *.yaml / *.yml workflow in a directory, by workflow name (the file stem if unnamed)."""
    found: dict[str, workflow_pb2.Workflow] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        workflow = load_workflow(path)
        found[workflow.name or path.stem] = workflow
    return found
