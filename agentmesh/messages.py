"""Typed messages: the dataclasses agent code works with, converted at the protobuf edge.

Handlers never touch generated protobuf classes; the runtime converts with
`Message.from_proto` / `Message.to_proto`, as temporalio's SDK does.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

from google.protobuf import json_format, struct_pb2

from agentmesh.v1 import message_pb2

JsonObject = dict[str, Any]


class Role(IntEnum):
    UNSPECIFIED = message_pb2.ROLE_UNSPECIFIED
    USER = message_pb2.ROLE_USER
    AGENT = message_pb2.ROLE_AGENT


class MessageType(IntEnum):
    UNSPECIFIED = message_pb2.MESSAGE_TYPE_UNSPECIFIED
    REQUEST = message_pb2.MESSAGE_TYPE_REQUEST
    RESPONSE = message_pb2.MESSAGE_TYPE_RESPONSE


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    media_type: str = "text/plain"


@dataclass(frozen=True, slots=True)
class DataPart:
    data: JsonObject
    media_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class RawPart:
    raw: bytes
    media_type: str = "application/octet-stream"
    filename: str = ""


@dataclass(frozen=True, slots=True)
class UrlPart:
    url: str
    media_type: str = ""
    filename: str = ""


Part = TextPart | DataPart | RawPart | UrlPart


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(self.input_tokens + other.input_tokens, self.output_tokens + other.output_tokens)

    def to_proto(self) -> message_pb2.TokenUsage:
        return message_pb2.TokenUsage(
            input_tokens=self.input_tokens, output_tokens=self.output_tokens, total_tokens=self.total_tokens
        )

    @classmethod
    def from_proto(cls, usage: message_pb2.TokenUsage) -> TokenUsage:
        return cls(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens)


@dataclass(frozen=True, slots=True)
class Message:
    """An AgentMessage: who says what to whom, as ordered parts."""

    parts: tuple[Part, ...] = ()
    sender: str = ""
    receiver: str = ""
    role: Role = Role.USER
    type: MessageType = MessageType.REQUEST
    context_id: str = ""
    correlation_id: str = ""
    metadata: JsonObject = field(default_factory=dict)
    message_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    create_time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def request(
        cls,
        data: Mapping[str, Any] | None = None,
        *,
        text: str | None = None,
        sender: str = "client",
        receiver: str = "",
        context_id: str = "",
    ) -> Message:
        """A request carrying an optional text part and an optional data part."""
        parts: list[Part] = []
        if text is not None:
            parts.append(TextPart(text))
        if data is not None:
            parts.append(DataPart(dict(data)))
        return cls(parts=tuple(parts), sender=sender, receiver=receiver, context_id=context_id)

    @property
    def text(self) -> str:
        """The text parts, joined by blank lines."""
        return "\n\n".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def data(self) -> JsonObject:
        """The data parts merged in order; later keys win."""
        merged: JsonObject = {}
        for part in self.parts:
            if isinstance(part, DataPart):
                merged.update(part.data)
        return merged

    def to_proto(self) -> message_pb2.AgentMessage:
        proto = message_pb2.AgentMessage(
            message_id=self.message_id,
            context_id=self.context_id,
            correlation_id=self.correlation_id,
            sender=self.sender,
            receiver=self.receiver,
            role=self.role.value,
            type=self.type.value,
            parts=[_part_to_proto(p) for p in self.parts],
        )
        if self.metadata:
            proto.metadata.update(self.metadata)
        proto.create_time.FromDatetime(self.create_time)
        return proto

    @classmethod
    def from_proto(cls, proto: message_pb2.AgentMessage) -> Message:
        return cls(
            parts=tuple(_part_from_proto(p) for p in proto.parts),
            sender=proto.sender,
            receiver=proto.receiver,
            role=Role(proto.role),
            type=MessageType(proto.type),
            context_id=proto.context_id,
            correlation_id=proto.correlation_id,
            metadata=struct_to_dict(proto.metadata),
            message_id=proto.message_id,
            create_time=(
                proto.create_time.ToDatetime(tzinfo=UTC)
                if proto.HasField("create_time")
                else datetime.now(UTC)
            ),
        )


def struct_to_dict(struct: struct_pb2.Struct) -> JsonObject:
    """A Struct as plain Python; whole numbers come back as int, since Struct stores only doubles."""
    return _whole_numbers_as_int(json_format.MessageToDict(struct))  # type: ignore[no-any-return]


def value_to_python(value: struct_pb2.Value) -> Any:
    """A Value as plain Python, whole numbers as int."""
    return _whole_numbers_as_int(json_format.MessageToDict(value))


def python_to_value(data: Any) -> struct_pb2.Value:
    value = struct_pb2.Value()
    json_format.ParseDict(data, value)
    return value


def dict_to_struct(data: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(data)
    return struct


def _whole_numbers_as_int(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers_as_int(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_int(v) for v in value]
    return value


def _part_to_proto(part: Part) -> message_pb2.Part:
    match part:
        case TextPart(text=text, media_type=media_type):
            return message_pb2.Part(text=text, media_type=media_type)
        case DataPart(data=data, media_type=media_type):
            return message_pb2.Part(data=dict_to_struct(data), media_type=media_type)
        case RawPart(raw=raw, media_type=media_type, filename=filename):
            return message_pb2.Part(raw=raw, media_type=media_type, filename=filename)
        case UrlPart(url=url, media_type=media_type, filename=filename):
            return message_pb2.Part(url=url, media_type=media_type, filename=filename)
    raise TypeError(f"not a message part: {part!r}")


def _part_from_proto(proto: message_pb2.Part) -> Part:
    kind = proto.WhichOneof("content")
    if kind == "data":
        return DataPart(struct_to_dict(proto.data), proto.media_type or "application/json")
    if kind == "raw":
        return RawPart(proto.raw, proto.media_type or "application/octet-stream", proto.filename)
    if kind == "url":
        return UrlPart(proto.url, proto.media_type, proto.filename)
    return TextPart(proto.text, proto.media_type or "text/plain")


def parts_of(text: str | None, data: Mapping[str, Any] | None) -> Iterable[Part]:
    if text:
        yield TextPart(text, "text/markdown")
    if data is not None:
        yield DataPart(dict(data))
