"""A run's events as the A2A updates a client following its task sees: status updates (the
task's state, with the question it waits on, a step's progress, or why it failed) and artifact
updates (streamed text, an agent's answer, a workflow step's files, the run's outputs)."""

from __future__ import annotations

from typing import Any

from a2a.types import a2a_pb2 as a2a

from agentmesh.v1 import run_pb2
from agentmesh_gateway.a2a import convert
from agentmesh_gateway.a2a.targets import Target


def updates_of(
    target: Target, run_id: str, context_id: str, event: run_pb2.RunEvent, kind: str | None
) -> list[a2a.TaskStatusUpdateEvent | a2a.TaskArtifactUpdateEvent]:
    """What one run event says to an A2A client, if anything."""
    status = a2a.TaskStatus()
    status.timestamp.CopyFrom(event.event_time)
    match kind:
        case "step_output_chunk":
            chunk = event.step_output_chunk
            artifact = a2a.Artifact(artifact_id=f"{chunk.step_id}-text", name=f"{chunk.step_id} (streamed)")
            artifact.parts.add(text=chunk.text)
            return [
                a2a.TaskArtifactUpdateEvent(
                    task_id=run_id, context_id=context_id, artifact=artifact, append=True
                )
            ]
        case "step_input_required":
            request = event.step_input_required.request
            status.state = a2a.TASK_STATE_INPUT_REQUIRED
            status.message.CopyFrom(convert.to_a2a_message(request.question, run_id, context_id))
        case "step_completed" if (
            target.step_id == event.step_completed.step_id and not event.step_completed.HasField("item")
        ):
            # An agent exposed on its own answers with its step's text and data, as it answered.
            done = run_pb2.Run(run_id=run_id, state=run_pb2.RUN_STATE_SUCCEEDED)
            completed = event.step_completed
            done.steps.add(
                step_id=target.step_id, text=completed.text, output=completed.output, files=completed.files
            )
            return [
                a2a.TaskArtifactUpdateEvent(
                    task_id=run_id, context_id=context_id, artifact=artifact, last_chunk=True
                )
                for artifact in convert.artifacts(done, target.step_id)
            ]
        case "step_input_provided" | "run_resumed":
            status.state = a2a.TASK_STATE_WORKING
        case "step_started" | "step_completed" | "step_retrying" | "step_skipped" | "step_failed":
            body = getattr(event, kind)
            if body.HasField("item") if kind != "step_skipped" else False:
                return []  # a fan-out's items would drown the stream: its step says it all
            status.state = a2a.TASK_STATE_WORKING
            status.message.CopyFrom(convert.text_message(_progress(kind, body), run_id, context_id))
            if kind == "step_completed" and body.files and target.step_id is None:
                # A workflow's step made files: they are the task's as of now (its outputs are JSON).
                artifact = convert.step_files(body.step_id, body.files)
                made = a2a.TaskArtifactUpdateEvent(
                    task_id=run_id, context_id=context_id, artifact=artifact, last_chunk=True
                )
                return [made, a2a.TaskStatusUpdateEvent(task_id=run_id, context_id=context_id, status=status)]
        case "run_completed":
            run = run_pb2.Run(run_id=run_id, state=run_pb2.RUN_STATE_SUCCEEDED)
            run.outputs.CopyFrom(event.run_completed.outputs)
            status.state = a2a.TASK_STATE_COMPLETED
            updates: list[a2a.TaskStatusUpdateEvent | a2a.TaskArtifactUpdateEvent] = []
            if target.step_id is None:
                for artifact in convert.artifacts(run, None):
                    updates.append(
                        a2a.TaskArtifactUpdateEvent(
                            task_id=run_id, context_id=context_id, artifact=artifact, last_chunk=True
                        )
                    )
            return [*updates, a2a.TaskStatusUpdateEvent(task_id=run_id, context_id=context_id, status=status)]
        case "run_failed":
            error = event.run_failed.error
            status.state = a2a.TASK_STATE_FAILED
            status.message.CopyFrom(
                convert.text_message(f"{error.code}: {error.message}", run_id, context_id)
            )
        case "run_cancelled":
            status.state = a2a.TASK_STATE_CANCELED
        case _:
            return []
    return [a2a.TaskStatusUpdateEvent(task_id=run_id, context_id=context_id, status=status)]


def _progress(kind: str, body: Any) -> str:
    """A step event as the text of a WORKING status update."""
    match kind:
        case "step_started":
            return f"step {body.step_id} started" + (f" (attempt {body.attempt})" if body.attempt > 1 else "")
        case "step_completed":
            return f"step {body.step_id} completed"
        case "step_retrying":
            return f"step {body.step_id} retrying after {body.error.code}"
        case "step_skipped":
            return f"step {body.step_id} skipped: {body.reason}"
    return f"step {body.step_id} failed: {body.error.code}" + (" (the run goes on)" if body.continued else "")
