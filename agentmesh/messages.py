"""Typed messages: the dataclasses agent code works with, converted at the protobuf edge.

Handlers never touch generated protobuf classes; the runtime converts with
`Message.from_proto` / `Message.to_proto`, as temporalio's SDK does.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from google.protobuf import struct_pb2, timestamp_pb2

from agentmesh.errors import InvalidInput
from agentmesh.v1 import message_pb2

JsonObject = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


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
#: A file a message carries: its bytes, or a URL where they are, each with a media type and a name.
FilePart = RawPart | UrlPart


@dataclass(frozen=True, slots=True)
class ModelTokens:
    """The tokens one model spent."""

    model: str
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: int = 0
    output_tokens: int = 0
    #: The same tokens by model, when known (a gateway prices and budgets them by model).
    models: tuple[ModelTokens, ...] = ()

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def of_model(self, model: str) -> TokenUsage:
        """This usage, said to be `model`'s (unless it says by model already)."""
        if self.models or not model or not self.total_tokens:
            return self
        return TokenUsage(
            self.input_tokens,
            self.output_tokens,
            (ModelTokens(model, self.input_tokens, self.output_tokens),),
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        by_model: dict[str, tuple[int, int]] = {}
        for tokens in (*self.models, *other.models):
            spent = by_model.get(tokens.model, (0, 0))
            by_model[tokens.model] = (spent[0] + tokens.input_tokens, spent[1] + tokens.output_tokens)
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            tuple(ModelTokens(model, i, o) for model, (i, o) in by_model.items()),
        )

    def to_proto(self) -> message_pb2.TokenUsage:
        return message_pb2.TokenUsage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            total_tokens=self.total_tokens,
            models=[
                message_pb2.ModelTokens(
                    model=m.model, input_tokens=m.input_tokens, output_tokens=m.output_tokens
                )
                for m in self.models
            ],
        )

    @classmethod
    def from_proto(cls, usage: message_pb2.TokenUsage) -> TokenUsage:
        models = tuple(ModelTokens(m.model, m.input_tokens, m.output_tokens) for m in usage.models)
        return cls(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens, models=models)


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
    message_id: str = field(default_factory=lambda: secrets.token_hex(16))
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
        )
        for part in self.parts:
            _add_part(proto, part)
        if self.metadata:
            proto.metadata.update(self.metadata)
        micros = (self.create_time - _EPOCH) // _MICROSECOND
        proto.create_time.seconds, nanos = divmod(micros, 1_000_000)
        proto.create_time.nanos = nanos * 1000
        return proto

    @classmethod
    def from_proto(cls, proto: message_pb2.AgentMessage) -> Message:
        """The message; InvalidInput if its create_time lies outside what a datetime holds."""
        return cls(
            parts=tuple(_part_from_proto(p) for p in proto.parts),
            sender=proto.sender,
            receiver=proto.receiver,
            # proto3 enums are open: a value this version does not know reads as unspecified.
            role=Role(proto.role) if proto.role in _ROLES else Role.UNSPECIFIED,
            type=MessageType(proto.type) if proto.type in _TYPES else MessageType.UNSPECIFIED,
            context_id=proto.context_id,
            correlation_id=proto.correlation_id,
            metadata=struct_to_dict(proto.metadata),
            message_id=proto.message_id,
            create_time=_create_time(proto) if proto.HasField("create_time") else datetime.now(UTC),
        )


_ROLES = frozenset(int(r) for r in Role)
_TYPES = frozenset(int(t) for t in MessageType)


def _create_time(proto: message_pb2.AgentMessage) -> datetime:
    try:
        return _EPOCH + timedelta(
            seconds=proto.create_time.seconds, microseconds=proto.create_time.nanos // 1000
        )
    except OverflowError:
        raise InvalidInput.field("message.create_time", "must lie between the years 1 and 9999") from None


# Struct and Value are converted by walking them directly: ProtoJSON (json_format) is pure
# Python and was a measurable share of a step's cost in the gateway and in agents.


def struct_to_dict(struct: struct_pb2.Struct) -> JsonObject:
    """A Struct as plain Python; whole numbers come back as int, since Struct stores only doubles."""
    return {key: value_to_python(value) for key, value in struct.fields.items()}


def value_to_python(value: struct_pb2.Value) -> Any:
    """A Value as plain Python, whole numbers as int."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return struct_to_dict(value.struct_value)
    if kind == "list_value":
        return [value_to_python(item) for item in value.list_value.values]
    return None


def python_to_value(data: Any) -> struct_pb2.Value:
    """Plain Python (JSON-shaped: dict, list, str, number, bool, None) as a Value."""
    value = struct_pb2.Value()
    _fill_value(value, data)
    return value


def dict_to_struct(data: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    fill_struct(struct, data)
    return struct


def fill_struct(struct: struct_pb2.Struct, data: Mapping[str, Any]) -> None:
    """Fill a Struct (say, a field of a message being built) in place: assigning a built
    Struct copies it by decoding, which refuses anything nested past protobuf's limit."""
    for key, item in data.items():
        if not isinstance(key, str):
            raise TypeError(f"a Struct key must be a string, not {type(key).__name__}")
        _fill_value(struct.fields[key], item)


def _fill_value(value: struct_pb2.Value, data: Any) -> None:
    if data is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(data, bool):
        value.bool_value = data
    elif isinstance(data, int | float):
        value.number_value = data
    elif isinstance(data, str):
        value.string_value = data
    elif isinstance(data, Mapping):
        value.struct_value.SetInParent()  # so that an empty mapping is {} rather than no value
        fill_struct(value.struct_value, data)
    elif isinstance(data, list | tuple):
        items = value.list_value
        items.SetInParent()  # likewise for an empty list
        for item in data:
            _fill_value(items.values.add(), item)
    else:
        raise TypeError(f"{type(data).__name__} is not JSON-shaped data")


def timestamp_now() -> timestamp_pb2.Timestamp:
    """The current time, without the datetime round trip of Timestamp.GetCurrentTime."""
    seconds, nanos = divmod(time.time_ns(), 1_000_000_000)
    return timestamp_pb2.Timestamp(seconds=seconds, nanos=nanos)


def _add_part(proto: message_pb2.AgentMessage, part: Part) -> None:
    added = proto.parts.add()  # filled in place: building a Part and then copying it costs twice
    match part:
        case TextPart(text=text, media_type=media_type):
            added.text, added.media_type = text, media_type
        case DataPart(data=data, media_type=media_type):
            fill_struct(added.data, data)
            added.data.SetInParent()
            added.media_type = media_type
        case RawPart(raw=raw, media_type=media_type, filename=filename):
            added.raw, added.media_type, added.filename = raw, media_type, filename
        case UrlPart(url=url, media_type=media_type, filename=filename):
            added.url, added.media_type, added.filename = url, media_type, filename
        case _:
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


def files_of(parts: Iterable[message_pb2.Part]) -> tuple[FilePart, ...]:
    """The file parts (raw and url) among protobuf parts, in order; text and data are left out."""
    # Filtered before converting: a data part's Struct is not worth converting only to be dropped.
    chosen = (_part_from_proto(p) for p in parts if p.WhichOneof("content") in ("raw", "url"))
    return tuple(part for part in chosen if isinstance(part, RawPart | UrlPart))


def parts_of(text: str | None, data: Mapping[str, Any] | None) -> Iterable[Part]:
    if text:
        yield TextPart(text, "text/markdown")
    if data is not None:
        yield DataPart(dict(data))
