"""Between the mesh's messages and cards and A2A's (lf.a2a.v1, as a2a-sdk generates it).

A step's message goes out with its parts as they are (text, data, raw, url); what comes back is
read the other way. An A2A data part holds any JSON value, the mesh's a JSON object: data that
is not an object comes in as `{"value": ...}`.

A task's result is its artifacts: their data parts merged in order (later keys win) are the
step's output, their text (an artifact's parts joined as they came, streamed chunks included;
artifacts apart by a blank line) the step's text, or, with no artifact text, the text of the
task's last status message; their file parts (raw, url), in order, the step's files.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from a2a.types import a2a_pb2 as a2a
from google.protobuf import struct_pb2

from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import message_pb2
from agentmesh_gateway.payloads import fill, to_python

#: What the mesh says a remote skill takes: A2A cards do not say.
ANY_OBJECT = {"type": "object"}

TERMINAL_STATES = frozenset(
    {
        a2a.TASK_STATE_COMPLETED,
        a2a.TASK_STATE_FAILED,
        a2a.TASK_STATE_CANCELED,
        a2a.TASK_STATE_REJECTED,
    }
)
#: States in which a task waits for its client: the stream of its events ends there.
INTERRUPTED_STATES = frozenset({a2a.TASK_STATE_INPUT_REQUIRED, a2a.TASK_STATE_AUTH_REQUIRED})
SETTLED_STATES = TERMINAL_STATES | INTERRUPTED_STATES


def state_name(state: int) -> str:
    return (
        a2a.TaskState.Name(state).removeprefix("TASK_STATE_")
        if state in a2a.TaskState.values()
        else str(state)
    )


def outgoing(
    message: message_pb2.AgentMessage, *, message_id: str, context_id: str, task_id: str = "", skill: str = ""
) -> a2a.Message:
    """A mesh message as an A2A user message; `skill` goes in its metadata."""
    out = a2a.Message(message_id=message_id, context_id=context_id, task_id=task_id, role=a2a.ROLE_USER)
    for part in message.parts:
        added = out.parts.add()
        match part.WhichOneof("content"):
            case "data":
                added.data.struct_value.CopyFrom(part.data)
            case "raw":
                added.raw = part.raw
            case "url":
                added.url = part.url
            case _:
                added.text = part.text
        if part.media_type:
            added.media_type = part.media_type
        if part.filename:
            added.filename = part.filename
    if not out.parts:  # A2A wants at least one part
        out.parts.add().data.struct_value.SetInParent()
    if skill:
        out.metadata.update({"skill": skill})
    return out


def incoming(message: a2a.Message, *, sender: str, context_id: str) -> message_pb2.AgentMessage:
    """An A2A agent's message (a question, a reply) as a mesh message."""
    proto = message_pb2.AgentMessage(
        message_id=message.message_id,
        context_id=context_id,
        sender=sender,
        receiver="gateway",
        role=message_pb2.ROLE_AGENT,
        type=message_pb2.MESSAGE_TYPE_RESPONSE,
    )
    for part in message.parts:
        added = proto.parts.add()
        match part.WhichOneof("content"):
            case "data":
                fill(added.data, _object(part.data))
                added.data.SetInParent()
            case "raw":
                added.raw = part.raw
            case "url":
                added.url = part.url
            case _:
                added.text = part.text
        if part.media_type:
            added.media_type = part.media_type
        if part.filename:
            added.filename = part.filename
    if message.HasField("metadata"):
        proto.metadata.CopyFrom(message.metadata)
    return proto


def text_of(parts: Any, separator: str = "") -> str:
    return separator.join(part.text for part in parts if part.WhichOneof("content") == "text")


def result(task: a2a.Task, *, sender: str) -> agent_pb.InvokeResponse:
    """A completed task's result, as an agent's InvokeResponse."""
    data: dict[str, Any] = {}
    found = False
    texts = []
    files = []
    for artifact in task.artifacts:
        for part in artifact.parts:
            if part.WhichOneof("content") == "data":
                data.update(_object(part.data))
                found = True
        files += file_parts(artifact.parts)
        if text := text_of(artifact.parts):
            texts.append(text)
    text = "\n\n".join(texts) or text_of(task.status.message.parts)
    return _response(text, data if found else None, files, sender=sender, context_id=task.context_id)


def reply(message: a2a.Message, *, sender: str) -> agent_pb.InvokeResponse:
    """A direct reply (a Message, no task), as an agent's InvokeResponse: one that says it is."""
    data: dict[str, Any] = {}
    found = False
    for part in message.parts:
        if part.WhichOneof("content") == "data":
            data.update(_object(part.data))
            found = True
    response = _response(
        text_of(message.parts, "\n\n"),
        data if found else None,
        file_parts(message.parts),
        sender=sender,
        context_id=message.context_id,
    )
    response.direct = True
    return response


def file_parts(parts: Iterable[a2a.Part]) -> list[message_pb2.Part]:
    """The file parts (raw, url) among A2A parts as the mesh's, with their filename and media type:
    they become the step's files."""
    files = []
    for part in parts:
        kind = part.WhichOneof("content")
        if kind == "raw":
            files.append(message_pb2.Part(raw=part.raw, media_type=part.media_type, filename=part.filename))
        elif kind == "url":
            files.append(message_pb2.Part(url=part.url, media_type=part.media_type, filename=part.filename))
    return files


def question(task: a2a.Task, *, sender: str) -> agent_pb.InvokeResponse:
    """A task waiting for input as the mesh's question: its status message."""
    response = agent_pb.InvokeResponse(input_required=agent_pb.InputRequired())
    asked = task.status.message
    if not asked.parts:
        asked = a2a.Message(message_id=f"{task.id}/input", parts=[a2a.Part(text="The agent needs input.")])
    response.message.CopyFrom(incoming(asked, sender=sender, context_id=task.context_id))
    return response


def apply_artifact(task: a2a.Task, update: a2a.TaskArtifactUpdateEvent) -> None:
    """An artifact update, applied to a task as A2A says: appended to, or in place of, the
    artifact with its id."""
    for artifact in task.artifacts:
        if artifact.artifact_id == update.artifact.artifact_id:
            if update.append:
                artifact.parts.extend(update.artifact.parts)
            else:
                artifact.CopyFrom(update.artifact)
            return
    task.artifacts.add().CopyFrom(update.artifact)


def mesh_card(card: a2a.AgentCard) -> agent_pb.AgentCard:
    """An A2A card as ListAgents shows it: its skills, each taking any object."""
    streaming = card.capabilities.streaming
    mesh = agent_pb.AgentCard(
        name=card.name, description=card.description, version=card.version, streaming=streaming
    )
    for skill in card.skills:
        added = mesh.skills.add(
            id=skill.id, name=skill.name, description=skill.description, tags=skill.tags, streaming=streaming
        )
        fill(added.input_schema, ANY_OBJECT)
    return mesh


def retryable(task: a2a.Task) -> bool:
    """Whether the agent marked its failure worth retrying (`retryable: true` in the status
    message's or the task's metadata)."""
    for metadata in (task.status.message.metadata, task.metadata):
        if to_python(metadata).get("retryable") is True:
            return True
    return False


def _object(value: struct_pb2.Value) -> dict[str, Any]:
    if value.WhichOneof("kind") == "struct_value":
        return to_python(value.struct_value)
    return {"value": to_python(value)}


def _response(
    text: str, data: dict[str, Any] | None, files: list[message_pb2.Part], *, sender: str, context_id: str
) -> agent_pb.InvokeResponse:
    response = agent_pb.InvokeResponse()
    message = response.message
    message.sender, message.receiver, message.context_id = sender, "gateway", context_id
    message.role, message.type = message_pb2.ROLE_AGENT, message_pb2.MESSAGE_TYPE_RESPONSE
    if text:
        message.parts.add(text=text, media_type="text/plain")
    if data is not None:
        part = message.parts.add(media_type="application/json")
        fill(part.data, data)
        part.data.SetInParent()
    message.parts.extend(files)
    return response
