"""How a stream's items go on the wire: server-sent events, or newline-delimited JSON.

Run events go out as `id: SEQUENCE`, `event: KIND` (the event's field, as its JSON names it) and
`data:` the response message as ProtoJSON (RunWorkflowResponse and WatchRunResponse alike:
`{"event": RunEvent}`). A frame is encoded once per event and shared by every client it is sent
to (`FrameCache`, keyed by run and sequence, like the bytes the gRPC port shares): a thousand
clients following one run cost one JSON encoding of each event, not a thousand.
"""

from __future__ import annotations

from collections import OrderedDict

from google.protobuf import json_format
from google.protobuf.message import Message

from agentmesh_gateway.http.problems import Problem
from agentmesh_gateway.rest.codec import dumps, to_json
from agentmesh_gateway.store.base import EventRecord

SSE = "text/event-stream"
NDJSON = "application/x-ndjson"
#: Bytes of encoded frames kept for the next client that is sent the same event.
FRAME_CACHE_BYTES = 32 * 1024 * 1024


def heartbeat(media_type: str) -> bytes:
    """What keeps a quiet stream open: an SSE comment, or an empty line (NDJSON readers skip it)."""
    return b": keep-alive\n\n" if media_type == SSE else b"\n"


class FrameCache:
    """Encoded event frames by (run, sequence), the least recently used dropped past a byte budget."""

    def __init__(self, budget: int = FRAME_CACHE_BYTES) -> None:
        self._frames: OrderedDict[tuple[str, int, str], bytes] = OrderedDict()
        self._budget = budget
        self._size = 0

    def frame(self, record: EventRecord, media_type: str) -> bytes:
        key = (record.run_id, record.sequence, media_type)
        found = self._frames.get(key)
        if found is not None:
            self._frames.move_to_end(key)
            return found
        frame = _event_frame(record, media_type)
        self._frames[key] = frame
        self._size += len(frame)
        while self._size > self._budget and len(self._frames) > 1:
            _, dropped = self._frames.popitem(last=False)
            self._size -= len(dropped)
        return frame


def _event_frame(record: EventRecord, media_type: str) -> bytes:
    event = record.event()
    data = b'{"event":' + dumps(json_format.MessageToDict(event)) + b"}"
    if media_type == NDJSON:
        return data + b"\n"
    kind = event.WhichOneof("event")
    name = event.DESCRIPTOR.fields_by_name[kind].json_name if kind else "event"
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (record.sequence, name.encode(), data)


def message_frame(message: Message, media_type: str) -> bytes:
    data = to_json(message)
    if media_type == NDJSON:
        return data + b"\n"
    return b"event: %s\ndata: %s\n\n" % (_message_kind(message).encode(), data)


def problem_frame(problem: Problem, media_type: str) -> bytes:
    """A failure after the stream opened: an `error` event, or an `{"error": …}` line."""
    if media_type == NDJSON:
        return dumps({"error": problem.body}) + b"\n"
    return b"event: error\ndata: " + problem.json() + b"\n\n"


def _message_kind(message: Message) -> str:
    """What an SSE `event:` line calls a response: the field its oneof holds (ChatStream's text
    or result), else its one set field (WatchMetrics' metrics)."""
    descriptor = message.DESCRIPTOR
    for oneof in descriptor.oneofs:
        held = message.WhichOneof(oneof.name)
        if held:
            return str(descriptor.fields_by_name[held].json_name)
    fields = message.ListFields()
    return str(fields[0][0].json_name) if fields else "message"
