"""Required request fields, as the protos declare them (`google.api.field_behavior` = REQUIRED).

The protos state once which fields a request cannot do without; every server checks
them here, in one place, before any handler runs (see `agentmesh.calls`). What a field
lacks, by its kind:

- a message field: not set (no presence);
- a string or bytes field: empty;
- a repeated or map field: no element;
- a scalar (number, bool, enum): proto3 gives it no presence unless declared `optional`,
  so "missing" is its zero value (for an enum, its `_UNSPECIFIED`), or not set if optional.

Only a request's own fields are checked: nested messages are validated by the service
with full field paths (a workflow's steps, say). A oneof cannot carry field_behavior; a
service that needs one of a oneof's members checks it itself.
"""

from __future__ import annotations

from functools import cache

from google.api import field_behavior_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from agentmesh.errors import FieldViolation, InvalidInput


@cache
def required_fields(descriptor: Descriptor) -> tuple[FieldDescriptor, ...]:
    """The fields of a message type marked REQUIRED (cached: this runs on every call)."""
    return tuple(
        field
        for field in descriptor.fields
        if field_behavior_pb2.REQUIRED in field.GetOptions().Extensions[field_behavior_pb2.field_behavior]
    )


def missing_fields(message: Message) -> list[FieldViolation]:
    """A violation ("is required") for each REQUIRED field the message lacks."""
    return [
        FieldViolation(field.name, "is required")
        for field in required_fields(message.DESCRIPTOR)
        if _lacks(message, field)
    ]


def check_required(message: Message) -> None:
    """InvalidInput naming every REQUIRED field the message lacks; nothing if none."""
    violations = missing_fields(message)
    if violations:
        names = ", ".join(v.field for v in violations)
        raise InvalidInput(f"missing required field(s): {names}", violations, reason="MISSING_REQUIRED_FIELD")


def _lacks(message: Message, field: FieldDescriptor) -> bool:
    if field.is_repeated:
        return len(getattr(message, field.name)) == 0
    if field.has_presence:
        return not message.HasField(field.name)
    return not getattr(message, field.name)
