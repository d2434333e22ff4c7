"""One call of a skill, from the request message as it came off the wire to the reply going back:
what the gRPC servicer does for every Invoke, and what `agentmesh.testing` does in-process, step
for step the same."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agentmesh.llm.base import LLMProvider
from agentmesh.messages import Message, MessageType, Role, TokenUsage, parts_of
from agentmesh.relay import Emit
from agentmesh.runtime.agent import Agent, Reply, Skill
from agentmesh.runtime.context import Context
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import message_pb2


@dataclass(frozen=True, slots=True)
class Outcome:
    """A skill's reply as it goes back to the caller, with the skill that answered and the model
    tokens it used."""

    skill: Skill[Any]
    message: Message
    usage: TokenUsage

    def to_proto(self) -> pb.InvokeResponse:
        """The reply as it goes on the wire; TypeError if the handler's data is not JSON-shaped."""
        return pb.InvokeResponse(message=self.message.to_proto(), usage=self.usage.to_proto())


async def invoke(
    agent: Agent,
    llm: LLMProvider,
    skill_id: str,
    proto: message_pb2.AgentMessage,
    *,
    deadline: float | None,
    emit: Emit | None,
    metadata: Mapping[str, str],
) -> Outcome:
    """An Invoke from the request message as it came off the wire to the skill's reply."""
    request = Message.from_proto(proto)
    skill, data = parse_request(agent, skill_id, request)
    return await perform(agent, llm, skill, data, request, deadline=deadline, emit=emit, metadata=metadata)


def parse_request(agent: Agent, skill_id: str, request: Message) -> tuple[Skill[Any], Any]:
    """The skill a request names and its validated input; InvalidInput naming every bad field."""
    skill = agent.find_skill(skill_id)
    payload = request.data
    if request.text and "text" not in payload:
        payload["text"] = request.text
    return skill, skill.parse(payload)


async def perform(
    agent: Agent,
    llm: LLMProvider,
    skill: Skill[Any],
    data: Any,
    request: Message,
    *,
    deadline: float | None,
    emit: Emit | None,
    metadata: Mapping[str, str],
) -> Outcome:
    """Run the skill's handler with a real Context; its reply as a response message."""
    ctx = Context(
        agent=agent.name,
        skill=skill.id,
        message=request,
        llm=llm,
        deadline=deadline,
        emit=emit,
        metadata=metadata,
    )
    result = await skill.handler(data, ctx)
    reply = Reply(text=result) if isinstance(result, str) else result
    return Outcome(skill, reply_message(agent, llm, request, skill, reply), ctx.usage)


def reply_message(
    agent: Agent, llm: LLMProvider, request: Message, skill: Skill[Any], reply: Reply
) -> Message:
    metadata = {
        "agent": agent.name,
        "skill": skill.id,
        "llm_provider": llm.name,
        "llm_model": llm.model,
        **reply.metadata,
    }
    return Message(
        parts=tuple(parts_of(reply.text, reply.data_dict())),
        sender=agent.name,
        receiver=request.sender,
        role=Role.AGENT,
        type=MessageType.RESPONSE,
        context_id=request.context_id,
        correlation_id=request.message_id,
        metadata=metadata,
    )


def deadline_in(seconds: float | None) -> float | None:
    """A monotonic deadline `seconds` from now (None: no deadline)."""
    return None if seconds is None else time.monotonic() + seconds
