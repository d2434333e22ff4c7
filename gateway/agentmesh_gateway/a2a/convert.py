"""Runs as A2A tasks, run events as A2A stream responses, A2A messages as inputs and answers.

A task is a run: its id is the run's id, its context id the run's session. Its history is the
message that started it, then each question a step's agent asked and the answer it got; its
artifacts are the run's outputs and its steps' files (for an agent exposed on its own, its step's
text, data and files).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from a2a.types import a2a_pb2 as a2a
from google.protobuf import struct_pb2

from agentmesh.v1 import message_pb2, run_pb2
from agentmesh_gateway.payloads import to_python, to_struct

#: The A2A extension that stamps streamed responses with the run's event sequence and lets a
#: subscription resume after one, gap-free (what A2A 1.0 lacks: a2aproject/A2A#1986).
RESUME_EXTENSION = "https://agentmesh.dev/a2a/extensions/resume/v1"
#: The header (gRPC metadata) carrying the sequence a subscription resumes after.
RESUME_AFTER_HEADER = "agentmesh-after-sequence"
SEQUENCE_KEY = "agentmesh.sequence"

TASK_STATES = {
    run_pb2.RUN_STATE_PENDING: a2a.TASK_STATE_SUBMITTED,
    run_pb2.RUN_STATE_RUNNING: a2a.TASK_STATE_WORKING,
    run_pb2.RUN_STATE_WAITING_FOR_INPUT: a2a.TASK_STATE_INPUT_REQUIRED,
    run_pb2.RUN_STATE_SUCCEEDED: a2a.TASK_STATE_COMPLETED,
    run_pb2.RUN_STATE_FAILED: a2a.TASK_STATE_FAILED,
    run_pb2.RUN_STATE_CANCELLED: a2a.TASK_STATE_CANCELED,
}
RUN_STATES = {task: run for run, task in TASK_STATES.items()}
#: States after which a task changes no more, and those in which it waits for its caller.
TERMINAL = frozenset({a2a.TASK_STATE_COMPLETED, a2a.TASK_STATE_FAILED, a2a.TASK_STATE_CANCELED})
INTERRUPTED = frozenset({a2a.TASK_STATE_INPUT_REQUIRED})


def message_data(message: a2a.Message) -> tuple[dict[str, Any], str]:
    """A message's data parts merged in order (objects only), and its text parts joined."""
    data: dict[str, Any] = {}
    texts: list[str] = []
    for part in message.parts:
        kind = part.WhichOneof("content")
        if kind == "data" and part.data.WhichOneof("kind") == "struct_value":
            data.update(to_python(part.data.struct_value))
        elif kind == "text":
            texts.append(part.text)
    return data, "\n\n".join(texts)


def to_agent_message(message: a2a.Message) -> message_pb2.AgentMessage:
    """An A2A message as the mesh carries it (text, data, raw and URL parts alike)."""
    out = message_pb2.AgentMessage(
        message_id=message.message_id,
        context_id=message.context_id,
        role=message_pb2.ROLE_USER if message.role == a2a.ROLE_USER else message_pb2.ROLE_AGENT,
        type=message_pb2.MESSAGE_TYPE_REQUEST,
    )
    for part in message.parts:
        kind = part.WhichOneof("content")
        added = out.parts.add(media_type=part.media_type, filename=part.filename)
        if kind == "text":
            added.text = part.text
        elif kind == "data" and part.data.WhichOneof("kind") == "struct_value":
            added.data.CopyFrom(part.data.struct_value)
        elif kind == "data":  # a list or a scalar: the mesh's data parts are objects
            added.data.CopyFrom(to_struct({"value": to_python(part.data)}))
        elif kind == "raw":
            added.raw = part.raw
        elif kind == "url":
            added.url = part.url
    return out


def to_a2a_message(message: message_pb2.AgentMessage, task_id: str, context_id: str) -> a2a.Message:
    """A mesh message (an agent's question, a person's answer) as an A2A message of the task."""
    out = a2a.Message(
        message_id=message.message_id or uuid.uuid4().hex,
        context_id=context_id,
        task_id=task_id,
        role=a2a.ROLE_USER if message.role == message_pb2.ROLE_USER else a2a.ROLE_AGENT,
    )
    for part in message.parts:
        kind = part.WhichOneof("content")
        added = out.parts.add(media_type=part.media_type, filename=part.filename)
        if kind == "text":
            added.text = part.text
        elif kind == "data":
            added.data.struct_value.CopyFrom(part.data)
        elif kind == "raw":
            added.raw = part.raw
        elif kind == "url":
            added.url = part.url
    return out


def text_message(text: str, task_id: str, context_id: str) -> a2a.Message:
    message = a2a.Message(
        message_id=uuid.uuid4().hex, context_id=context_id, task_id=task_id, role=a2a.ROLE_AGENT
    )
    message.parts.add(text=text)
    return message


def task_status(run: run_pb2.Run) -> a2a.TaskStatus:
    """The task's status: its state, and the message that goes with it (the question it waits on,
    or why it failed)."""
    status = a2a.TaskStatus(state=TASK_STATES.get(run.state, a2a.TASK_STATE_WORKING))
    status.timestamp.CopyFrom(run.end_time if run.HasField("end_time") else run.start_time)
    context = run.context.session_id
    if run.state == run_pb2.RUN_STATE_WAITING_FOR_INPUT:
        asking = [request for step in run.steps for request in step.pending_input]
        if asking:
            status.message.CopyFrom(to_a2a_message(asking[0].question, run.run_id, context))
    elif run.state == run_pb2.RUN_STATE_FAILED:
        status.message.CopyFrom(text_message(f"{run.error.code}: {run.error.message}", run.run_id, context))
    return status


def artifacts(run: run_pb2.Run, step_id: str | None) -> list[a2a.Artifact]:
    """What a run made. For an agent exposed on its own (`step_id`), once the run succeeded, its
    step's text, data and files, as the agent answered. For a workflow, once it succeeded, its
    outputs; and each succeeded step's files, as soon as the step has them (a stream sends them
    then: `step_files`), since a workflow's outputs are JSON and cannot carry them."""
    found: list[a2a.Artifact] = []
    if step_id is None:
        found = [step_files(step.step_id, step.files) for step in run.steps if step.files]
    if run.state != run_pb2.RUN_STATE_SUCCEEDED:
        return found
    artifact = a2a.Artifact(artifact_id="outputs", name="outputs")
    step = next((s for s in run.steps if s.step_id == step_id), None) if step_id else None
    if step is not None:
        if step.text:
            artifact.parts.add(text=step.text)
        if step.HasField("output") and step.output.WhichOneof("kind") == "struct_value":
            artifact.parts.add(data=step.output, media_type="application/json")
        artifact.parts.extend(file_parts(step.files))
    else:
        artifact.parts.add(data=struct_pb2.Value(struct_value=run.outputs), media_type="application/json")
    return [artifact, *found] if artifact.parts else found


def step_files(step_id: str, files: Iterable[message_pb2.Part]) -> a2a.Artifact:
    """A workflow step's files, as an artifact of the workflow's task."""
    artifact = a2a.Artifact(artifact_id=f"{step_id}-files", name=f"{step_id} files")
    artifact.parts.extend(file_parts(files))
    return artifact


def file_parts(files: Iterable[message_pb2.Part]) -> list[a2a.Part]:
    """A step's files as A2A file parts: bytes as `raw`, a reference as `url`, each with its
    filename and mediaType (A2A 1.0's file parts)."""
    parts = []
    for file in files:
        part = a2a.Part(media_type=file.media_type, filename=file.filename)
        if file.WhichOneof("content") == "raw":
            part.raw = file.raw
        else:
            part.url = file.url
        parts.append(part)
    return parts


def task(
    run: run_pb2.Run,
    step_id: str | None,
    history: Iterable[a2a.Message] = (),
    history_length: int | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> a2a.Task:
    out = a2a.Task(id=run.run_id, context_id=run.context.session_id, status=task_status(run))
    out.artifacts.extend(artifacts(run, step_id))
    messages = list(history)
    if history_length is not None:
        messages = messages[-history_length:] if history_length > 0 else []
    out.history.extend(messages)
    out.metadata.update(
        # camelCase, as A2A spells its JSON (the TCK checks keys in metadata too).
        {"agentmesh": {"runId": run.run_id, "workflow": run.workflow.name, **(metadata or {})}}
    )
    return out


def history(run: run_pb2.Run, first: a2a.Message, events: Iterable[run_pb2.RunEvent]) -> list[a2a.Message]:
    """The task's conversation: the message that started it, then each question and answer."""
    messages = [first]
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "step_input_required":
            question = event.step_input_required.request.question
            messages.append(to_a2a_message(question, run.run_id, run.context.session_id))
        elif kind == "step_input_provided":
            answer = event.step_input_provided.answer
            messages.append(to_a2a_message(answer, run.run_id, run.context.session_id))
    return messages


def first_message(run: run_pb2.Run, message_id: str) -> a2a.Message:
    """The message that started the run, as its inputs say (a data part of them)."""
    message = a2a.Message(
        message_id=message_id or f"{run.run_id}-request",
        context_id=run.context.session_id,
        task_id=run.run_id,
        role=a2a.ROLE_USER,
    )
    message.parts.add(data=struct_pb2.Value(struct_value=run.inputs), media_type="application/json")
    return message


def sequence_metadata(sequence: int) -> struct_pb2.Struct:
    return to_struct({SEQUENCE_KEY: sequence})
