"""Direct replies: an agent's answer that is a message in its own right, not a task's result
(InvokeResponse.direct, recorded as StepCompleted.direct).

A2A answers a message with a Task or with a Message. A message to the gateway starts a durable run
all the same (the task, which the Message names, so it can still be looked up); what changes is
how the caller is answered when an agent exposed on its own replied directly: SendMessage returns
the reply as a Message, and a stream is that single Message. A stream must be one or the other
from its first response, so for a skill whose card says it may reply directly
(Skill.direct_replies) the stream holds the task back until the reply is known, or until text
streams (a Message cannot be streamed piecemeal: that reply is a task's).
"""

from __future__ import annotations

from collections.abc import Iterable

from a2a.types import a2a_pb2 as a2a

from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import orchestrator_service_pb2 as orchestrator_pb
from agentmesh.v1 import run_pb2
from agentmesh_gateway.a2a import convert
from agentmesh_gateway.a2a.targets import Target

Update = a2a.TaskStatusUpdateEvent | a2a.TaskArtifactUpdateEvent


def may_reply_directly(agents: Iterable[orchestrator_pb.AgentStatus], run: run_pb2.Run) -> bool:
    """Whether the skill a run of an agent exposed on its own calls may reply directly, as its card
    says (the skill named, else the agent's first, as the agent picks)."""
    target = Target.of_run(run)
    if target.kind != "agents" or not run.workflow.steps:
        return False
    status = next((status for status in agents if status.name == target.name), None)
    if status is None:
        return False
    return _skill(status.card, run.workflow.steps[0].skill).direct_replies


def _skill(card: agent_pb.AgentCard, skill_id: str) -> agent_pb.Skill:
    if not skill_id:
        return card.skills[0] if card.skills else agent_pb.Skill()
    return next((skill for skill in card.skills if skill.id == skill_id), agent_pb.Skill())


def reply_of(target: Target, event: run_pb2.RunEvent) -> run_pb2.StepCompleted | None:
    """The completion of the target's step, if the event is one and its reply was direct."""
    if event.WhichOneof("event") != "step_completed":
        return None
    completed = event.step_completed
    if completed.direct and completed.step_id == target.step_id and not completed.HasField("item"):
        return completed
    return None


def message(run_id: str, context_id: str, completed: run_pb2.StepCompleted) -> a2a.Message:
    """The direct reply as the A2A Message it is: the text, data and files the agent replied with
    (as a task's artifact would carry them), naming the task (the run) it was recorded in. Its id
    is the run's, so a message sent again (which finds the same run) gets the same reply."""
    out = a2a.Message(
        message_id=f"{run_id}-reply", context_id=context_id, task_id=run_id, role=a2a.ROLE_AGENT
    )
    done = run_pb2.Run(run_id=run_id, state=run_pb2.RUN_STATE_SUCCEEDED)
    done.steps.add(
        step_id=completed.step_id, text=completed.text, output=completed.output, files=completed.files
    )
    for artifact in convert.artifacts(done, completed.step_id):
        out.parts.extend(artifact.parts)
    if not out.parts:
        out.parts.add(text="")  # A2A wants a message to have a part; the agent replied nothing
    return out


def shows_task(update: Update) -> bool:
    """Whether an update, while a stream holds its task back, makes the answer a task's: streamed
    text. (A question, a failure or a cancellation end the updates, and so does a reply.)"""
    return isinstance(update, a2a.TaskArtifactUpdateEvent) and update.append
