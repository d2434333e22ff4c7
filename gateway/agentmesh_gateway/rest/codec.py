"""ProtoJSON in and out: a request message from a binding's path, query string and body, and a
response's JSON.

Parsing is protobuf's own (`json_format`): lowerCamel names and the proto names alike, int64 as
strings or numbers, enums by name or number, Timestamp and Duration as RFC 3339 and "1.5s", a
Struct as any JSON object. What it leaves to us: unknown fields are refused naming each one with
its path (`context.bogus`), as are query parameters that name no field, and every refusal is an
`InvalidInput`, answered as the gRPC port answers it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from agentmesh.errors import FieldViolation, InvalidInput, echo
from agentmesh_gateway.rest.bindings import Binding

#: Well-known types whose JSON is not an object of their fields.
_JSON_VALUES = frozenset(
    f"google.protobuf.{name}"
    for name in (
        "Struct", "Value", "ListValue", "Timestamp", "Duration", "FieldMask", "Any",
        "DoubleValue", "FloatValue", "Int64Value", "UInt64Value", "Int32Value", "UInt32Value",
        "BoolValue", "StringValue", "BytesValue",
    )
)  # fmt: skip
#: Well-known types a query parameter may set (their JSON is a string or a number).
_QUERY_MESSAGES = _JSON_VALUES - {
    "google.protobuf.Struct",
    "google.protobuf.Value",
    "google.protobuf.ListValue",
    "google.protobuf.Any",
}
#: The resume cursor of a stream's request: an SSE client's Last-Event-ID sets it (its events'
#: ids are sequences), and `after` is its short name in the query string.
CURSOR_FIELD = "after_sequence"
CURSOR_ALIAS = "after"
#: Unknown fields named in one refusal; the gRPC status keeps 20 violations anyway.
_MAX_UNKNOWN = 20


def build_request(
    binding: Binding,
    body: bytes,
    query: Sequence[tuple[str, str]],
    path: Mapping[tuple[str, ...], str],
    aliases: Mapping[str, str] | None = None,
) -> Message:
    """The binding's request: its body, then the query string, then the path's variables (the
    path has the last word). `aliases`: query parameter names that stand for a field path."""
    request_type = binding.method.input_type
    message = message_factory.GetMessageClass(request_type)()
    if binding.body == "*":
        _parse_into(message, _json(body, request_type.full_name), "")
    elif binding.body:
        value = _json(body, request_type.full_name)
        _parse_into(message, {request_type.fields_by_name[binding.body].json_name: value}, "")
    elif body.strip():
        raise InvalidInput(
            f"{binding.verb} {binding.template.text} takes no body; its fields go in the query string",
            reason="UNEXPECTED_BODY",
        )
    taken = binding.path_fields | ({binding.body} if binding.body else set())
    if binding.body == "*" and query:
        taken |= {f.name for f in request_type.fields}  # the body has every field
    grouped: dict[str, list[str]] = {}
    for key, value in query:
        grouped.setdefault((aliases or {}).get(key, key), []).append(value)
    for key, values in grouped.items():
        _set_field(message, key, values, taken, what="query parameter")
    for field_path, value in path.items():
        _set_field(message, ".".join(field_path), [value], set(), what="path")
    return message


def to_json(message: Message) -> bytes:
    """A response as ProtoJSON (lowerCamel names, defaults left out), compact, UTF-8."""
    return dumps(json_format.MessageToDict(message))


def dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _json(body: bytes, expected: str) -> Any:
    if not body.strip():
        return {}  # a POST with no body (`curl -X POST …:cancel`) asks with every field unset
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested deeper than Python goes
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise InvalidInput(
            f"the body is not JSON ({expected}): {detail}", reason="MALFORMED_REQUEST"
        ) from None


def _parse_into(message: Message, value: Any, prefix: str) -> None:
    if not isinstance(value, dict):
        raise InvalidInput(
            f"the body must be a JSON object (a {message.DESCRIPTOR.full_name})", reason="MALFORMED_REQUEST"
        )
    unknown = list(_unknown_fields(value, _descriptor(message), prefix))
    if unknown:
        names = ", ".join(v.field for v in unknown[:3]) + (", …" if len(unknown) > 3 else "")
        raise InvalidInput(f"unknown field(s): {names}", unknown[:_MAX_UNKNOWN], reason="UNKNOWN_FIELD")
    try:
        json_format.ParseDict(value, message)
    except json_format.ParseError as exc:
        raise _invalid(str(exc), message.DESCRIPTOR.full_name) from None


def _unknown_fields(value: dict[str, Any], descriptor: Descriptor, prefix: str) -> Iterable[FieldViolation]:
    """A violation for each key of `value`, at any depth, that names no field of its message."""
    for key, item in value.items():
        path = f"{prefix}{key}"
        field = _field(descriptor, key)
        if field is None:
            yield FieldViolation(path, f"{descriptor.full_name} has no field {echo(key)}")
            continue
        if field.message_type is None or field.message_type.full_name in _JSON_VALUES:
            continue
        if field.message_type.GetOptions().map_entry:
            inner = field.message_type.fields_by_name["value"].message_type
            if inner is not None and inner.full_name not in _JSON_VALUES and isinstance(item, dict):
                for name, entry in item.items():
                    if isinstance(entry, dict):
                        yield from _unknown_fields(entry, inner, f"{path}.{name}.")
        elif field.is_repeated and isinstance(item, list):
            for index, entry in enumerate(item):
                if isinstance(entry, dict):
                    yield from _unknown_fields(entry, field.message_type, f"{path}.{index}.")
        elif isinstance(item, dict):
            yield from _unknown_fields(item, field.message_type, f"{path}.")


def _descriptor(message: Message) -> Descriptor:
    return cast(Descriptor, message.DESCRIPTOR)


def _field(descriptor: Descriptor, name: str) -> FieldDescriptor | None:
    found = descriptor.fields_by_name.get(name)
    if found is not None:
        return found
    return next((f for f in descriptor.fields if f.json_name == name), None)


def _set_field(message: Message, key: str, values: list[str], taken: set[str], *, what: str) -> None:
    """Set the field a query parameter (or path variable) names, by a dotted path of names."""
    descriptor = _descriptor(message)
    parts = key.split(".")
    tree: dict[str, Any] = {}
    node = tree
    field: FieldDescriptor | None = None
    for depth, part in enumerate(parts):
        field = _field(descriptor, part)
        if field is None or (depth == 0 and field.name in taken):
            raise InvalidInput(
                f"{what} {echo(key)} names no field this request takes there",
                [FieldViolation(key, f"{descriptor.full_name} takes no {what} {echo(part)}")],
                reason="UNKNOWN_FIELD",
            )
        if depth < len(parts) - 1:
            if (
                field.message_type is None
                or field.message_type.full_name in _JSON_VALUES
                or field.is_repeated
            ):
                raise InvalidInput.field(key, f"{part} has no fields to set", reason="UNKNOWN_FIELD")
            descriptor = field.message_type
            node = node.setdefault(field.json_name, {})
    assert field is not None
    if field.message_type is not None and field.message_type.full_name not in _QUERY_MESSAGES:
        raise InvalidInput.field(key, f"a {field.message_type.full_name} cannot be given as text")
    if not field.is_repeated and len(values) > 1:
        raise InvalidInput.field(key, "is given more than once")
    converted = [_scalar(field, value, key) for value in values]
    node[field.json_name] = converted if field.is_repeated else converted[0]
    try:
        json_format.ParseDict(tree, message)
    except json_format.ParseError as exc:
        raise InvalidInput.field(key, _cut(str(exc)), reason="MALFORMED_REQUEST") from None


def _scalar(field: FieldDescriptor, value: str, key: str) -> Any:
    """A query string's text as the JSON value ProtoJSON expects for the field (it takes numbers,
    enums and well-known types from strings itself; booleans it wants as JSON booleans)."""
    if field.type == FieldDescriptor.TYPE_BOOL:
        if value not in ("true", "false"):
            raise InvalidInput.field(key, "must be true or false")
        return value == "true"
    return value


def _invalid(message: str, expected: str) -> InvalidInput:
    """A ProtoJSON parse error as InvalidInput, naming the field its chain of "Failed to parse X
    field" names (json_format says no more than that in a structured way)."""
    fields = []
    rest = message
    while rest.startswith("Failed to parse ") and " field: " in rest:
        name, rest = rest.removeprefix("Failed to parse ").split(" field: ", 1)
        fields.append(name)
    text = f"the body is not a valid {expected}: {_cut(rest)}"  # json_format's words, cut
    if fields:
        return InvalidInput(text, [FieldViolation(".".join(fields), _cut(rest))], reason="MALFORMED_REQUEST")
    return InvalidInput(text, reason="MALFORMED_REQUEST")


def _cut(text: str, limit: int = 200) -> str:
    """json_format's messages repeat the value they could not take: no more than a line of it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
