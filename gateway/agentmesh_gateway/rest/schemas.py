"""JSON Schemas (OpenAPI 3.1's dialect, JSON Schema 2020-12) of messages as ProtoJSON writes them.

Names are the JSON names (lowerCamel); int64s are strings (parsers take numbers too); enums are
their value names; a Struct is any JSON object, a Value any JSON value, a Timestamp RFC 3339, a
Duration "1.5s". Fields a proto marks REQUIRED are required, OUTPUT_ONLY ones read-only, and no
other property is allowed (the transcoder refuses unknown fields). Each message and enum is one
component, referenced by its full proto name; its comments, and its fields', are descriptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor

Schema = dict[str, Any]
COMPONENTS = "#/components/schemas/"

_F = FieldDescriptor
_INTEGERS = {_F.TYPE_INT32, _F.TYPE_SINT32, _F.TYPE_SFIXED32, _F.TYPE_UINT32, _F.TYPE_FIXED32}
_LONGS = {_F.TYPE_INT64, _F.TYPE_SINT64, _F.TYPE_SFIXED64, _F.TYPE_UINT64, _F.TYPE_FIXED64}
_DURATION = r"^-?[0-9]+(\.[0-9]{1,9})?s$"
_NUMBER: Schema = {
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}]
}
_WELL_KNOWN: dict[str, Schema] = {
    "google.protobuf.Struct": {"type": "object", "description": "Any JSON object."},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array", "description": "Any JSON array."},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": _DURATION,
        "description": 'Seconds, as "1.5s".',
    },
    "google.protobuf.FieldMask": {"type": "string"},
    "google.protobuf.Empty": {"type": "object", "additionalProperties": False},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
    },
}


class Docs:
    """The comments of the contract's declarations, by full name (`pkg.Message`, `pkg.Message.field`,
    `pkg.Enum.VALUE`, `pkg.Service.Method`), from descriptors built with source info."""

    def __init__(self, files: Iterable[descriptor_pb2.FileDescriptorProto]) -> None:
        self._comments: dict[str, str] = {}
        for file in files:
            at = {tuple(loc.path): _comment(loc) for loc in file.source_code_info.location}
            prefix = f"{file.package}." if file.package else ""
            for i, message in enumerate(file.message_type):
                self._message(message, prefix + message.name, (4, i), at)
            for i, enum in enumerate(file.enum_type):
                self._enum(enum, prefix + enum.name, (5, i), at)
            for i, service in enumerate(file.service):
                name = prefix + service.name
                self._put(name, at.get((6, i)))
                for j, method in enumerate(service.method):
                    self._put(f"{name}.{method.name}", at.get((6, i, 2, j)))

    def of(self, full_name: str) -> str:
        return self._comments.get(full_name, "")

    def _put(self, name: str, comment: str | None) -> None:
        if comment:
            self._comments[name] = comment

    def _message(
        self, message: descriptor_pb2.DescriptorProto, name: str, path: tuple[int, ...], at: Mapping[Any, str]
    ) -> None:
        self._put(name, at.get(path))
        for k, field in enumerate(message.field):
            self._put(f"{name}.{field.name}", at.get((*path, 2, k)))
        for j, nested in enumerate(message.nested_type):
            self._message(nested, f"{name}.{nested.name}", (*path, 3, j), at)
        for j, enum in enumerate(message.enum_type):
            self._enum(enum, f"{name}.{enum.name}", (*path, 4, j), at)

    def _enum(
        self,
        enum: descriptor_pb2.EnumDescriptorProto,
        name: str,
        path: tuple[int, ...],
        at: Mapping[Any, str],
    ) -> None:
        self._put(name, at.get(path))
        for k, value in enumerate(enum.value):
            self._put(f"{name}.{value.name}", at.get((*path, 2, k)))


def _comment(location: descriptor_pb2.SourceCodeInfo.Location) -> str:
    text = location.leading_comments or location.trailing_comments
    return "\n".join(line.strip() for line in text.strip().splitlines())


class Schemas:
    """The components a document needs, added as they are referenced."""

    def __init__(self, docs: Docs) -> None:
        self._docs = docs
        self.components: dict[str, Schema] = {}

    def message(self, descriptor: Descriptor) -> Schema:
        """A reference to the message's schema (or the well-known type's own schema, inline)."""
        known = _well_known(descriptor)
        if known is not None:
            return known
        name = descriptor.full_name
        if name not in self.components:
            self.components[name] = {}  # taken first: a message may contain itself
            self.components[name] = self.object(descriptor)
        return {"$ref": COMPONENTS + name}

    def object(self, descriptor: Descriptor, leave_out: Iterable[str] = ()) -> Schema:
        """The message's own schema, without the fields named in `leave_out` (set elsewhere)."""
        left_out = set(leave_out)
        properties: dict[str, Schema] = {}
        required: list[str] = []
        for field in descriptor.fields:
            if field.name in left_out:
                continue
            schema = self.field(field)
            behavior = field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
            if field_behavior_pb2.OUTPUT_ONLY in behavior:
                schema["readOnly"] = True
            if field_behavior_pb2.REQUIRED in behavior:
                required.append(field.json_name)
            properties[field.json_name] = schema
        schema = {"type": "object", "properties": properties, "additionalProperties": False}
        if required:
            schema["required"] = required
        description = self._docs.of(descriptor.full_name)
        oneofs = [o for o in descriptor.oneofs if not _synthetic(o)]
        if oneofs:
            held = "; ".join(", ".join(f.json_name for f in o.fields) for o in oneofs)
            description += f"{chr(10) * 2 if description else ''}At most one of: {held}."
        if description:
            schema["description"] = description
        return schema

    def field(self, field: FieldDescriptor) -> Schema:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value = self.field(field.message_type.fields_by_name["value"])
            schema: Schema = {"type": "object", "additionalProperties": value}
        else:
            schema = self._single(field)
            if field.is_repeated:
                schema = {"type": "array", "items": schema}
        owner = field.containing_type
        description = self._docs.of(f"{owner.full_name}.{field.name}") if owner is not None else ""
        if description:
            schema = {**schema, "description": description}
        return schema

    def enum(self, descriptor: EnumDescriptor) -> Schema:
        if descriptor.full_name == "google.protobuf.NullValue":
            return {"type": "null"}
        name = descriptor.full_name
        if name not in self.components:
            schema: Schema = {"type": "string", "enum": [value.name for value in descriptor.values]}
            notes = [
                f"{value.name}: {self._docs.of(f'{name}.{value.name}')}"
                for value in descriptor.values
                if self._docs.of(f"{name}.{value.name}")
            ]
            description = "\n".join(filter(None, [self._docs.of(name), *notes]))
            if description:
                schema["description"] = description
            self.components[name] = schema
        return {"$ref": COMPONENTS + name}

    def _single(self, field: FieldDescriptor) -> Schema:
        if field.message_type is not None:
            return self.message(field.message_type)
        if field.enum_type is not None:
            return self.enum(field.enum_type)
        return scalar(field)


def scalar(field: FieldDescriptor) -> Schema:
    kind = field.type
    if kind in _LONGS:
        return {"type": ["string", "integer"], "format": "int64", "pattern": "^-?[0-9]+$"}
    if kind in _INTEGERS:
        return {"type": "integer", "format": "int32"}
    if kind in (_F.TYPE_DOUBLE, _F.TYPE_FLOAT):
        return dict(_NUMBER)
    if kind == _F.TYPE_BOOL:
        return {"type": "boolean"}
    if kind == _F.TYPE_BYTES:
        return {"type": "string", "contentEncoding": "base64"}
    return {"type": "string"}


def _well_known(descriptor: Descriptor) -> Schema | None:
    name = descriptor.full_name
    if name in _WELL_KNOWN:
        return dict(_WELL_KNOWN[name])
    if (
        name.startswith("google.protobuf.")
        and name.endswith("Value")
        and "value" in descriptor.fields_by_name
    ):
        return scalar(descriptor.fields_by_name["value"])  # a wrapper is its value, or null
    return None


def _synthetic(oneof: Any) -> bool:
    """A proto3 `optional` field's oneof, which holds one field and is no choice."""
    return len(oneof.fields) == 1 and oneof.name == f"_{oneof.fields[0].name}"
