"""`-i KEY=VALUE` and `-i KEY:=JSON`, typed by what takes them, never guessed from the text.

`KEY=VALUE` is a string unless whatever receives it says otherwise: a workflow input whose
default is a number, a boolean, a list or an object; a property of a question's answer schema
with such a `type`. So `who=no` stays "no", `topic=Norway: a history` stays that text and a date
stays a string; a list or an object may be typed as JSON or as YAML's flow style (`[a, b]`).
`KEY:=JSON` is JSON, as httpie reads it, whatever the target says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from agentmesh.messages import value_to_python
from agentmesh.v1 import workflow_pb2
from agentmesh_cli.client import CliError

Kind = Literal["string", "integer", "number", "boolean", "json"]
_UNSET = object()


@dataclass(frozen=True)
class Pair:
    key: str
    text: str
    #: The value of a `KEY:=JSON` pair; _UNSET for `KEY=VALUE`.
    value: Any = _UNSET


def parse_pairs(pairs: Sequence[str]) -> list[Pair]:
    """Split `-i` arguments; exit 2 naming the one that is neither KEY=VALUE nor KEY:=JSON."""
    parsed = []
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key or key == ":":
            raise CliError(
                f"-i {pair!r}: expected KEY=VALUE or KEY:=JSON (for example -i topic=robots -i n:=3)",
                exit_code=2,
            )
        if key.endswith(":"):
            try:
                parsed.append(Pair(key[:-1], text, json.loads(text)))
            except json.JSONDecodeError as exc:
                raise CliError(f"-i {pair!r}: not JSON ({exc.msg})", exit_code=2) from None
        else:
            parsed.append(Pair(key, text))
    return parsed


def kinds_of_workflow(workflow: workflow_pb2.Workflow) -> dict[str, Kind]:
    """Each declared input's kind, from its default value (an input without one takes text)."""
    kinds: dict[str, Kind] = {}
    for declared in workflow.inputs:
        if declared.HasField("default_value"):
            kinds[declared.name] = _kind_of_value(value_to_python(declared.default_value))
    return kinds


def kinds_of_schema(schema: Mapping[str, Any]) -> dict[str, Kind]:
    """Each property's kind, from an object schema's `properties.NAME.type`."""
    kinds: dict[str, Kind] = {}
    properties = schema.get("properties")
    if isinstance(properties, dict):
        for name, spec in properties.items():
            declared = spec.get("type") if isinstance(spec, dict) else None
            if isinstance(declared, list):  # ["integer", "null"]: the first that is not null
                declared = next((t for t in declared if t != "null"), None)
            if declared in ("integer", "number", "boolean"):
                kinds[str(name)] = declared
            elif declared in ("array", "object"):
                kinds[str(name)] = "json"
    return kinds


def typed(pairs: Sequence[Pair], kinds: Mapping[str, Kind]) -> dict[str, Any]:
    """The pairs as values; exit 2 naming a value that is not of its input's kind."""
    values: dict[str, Any] = {}
    for pair in pairs:
        if pair.value is not _UNSET:
            values[pair.key] = pair.value
            continue
        kind = kinds.get(pair.key, "string")
        try:
            values[pair.key] = _convert(pair.text, kind)
        except ValueError:
            article = "an" if kind == "integer" else "a"
            raise CliError(
                f"-i {pair.key}={pair.text}: {pair.key} takes {article} {_NAMES[kind]}"
                f" (or give JSON with -i {pair.key}:=...)",
                exit_code=2,
            ) from None
    return values


_NAMES = {
    "integer": "integer",
    "number": "number",
    "boolean": "boolean (true or false)",
    "json": "list or an object ([a, b] or JSON)",
}


def _convert(text: str, kind: Kind) -> Any:
    if kind == "integer":
        return int(text)
    if kind == "number":
        number = float(text)
        return int(number) if number.is_integer() and "." not in text else number
    if kind == "boolean":
        if text.lower() in ("true", "yes", "1"):
            return True
        if text.lower() in ("false", "no", "0"):
            return False
        raise ValueError(text)
    if kind == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
        # A list or an object as people type them on a command line: [tiktok, youtube].
        try:
            flow = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ValueError(text) from None
        if isinstance(flow, list | dict):
            return flow
        raise ValueError(text)
    return text


def _kind_of_value(value: Any) -> Kind:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list | dict):
        return "json"
    return "string"
