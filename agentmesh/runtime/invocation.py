"""One call of a skill, from the request message as it came off the wire to the reply going back:
what the gRPC servicer does for every Invoke, and what `agentmesh.testing` does in-process, step
for step the same."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import struct_pb2

from agentmesh.llm.base import LLMProvider
from agentmesh.messages import Message, MessageType, Role, TokenUsage, parts_of
from agentmesh.relay import Emit
from agentmesh.runtime.agent import Agent, Ask, Reply, Skill
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
    #: Set when the skill asked a question (the message) instead of answering: the answer's
    #: JSON Schema, or an empty dict for any answer.
    answer_schema: Mapping[str, Any] | None = None
    #: The reply is a direct message, not a task's result (`Reply.direct`).
    direct: bool = False

    @property
    def asked(self) -> bool:
        return self.answer_schema is not None

    def to_proto(self) -> pb.InvokeResponse:
        """The reply as it goes on the wire; TypeError if the handler's data is not JSON-shaped."""
        response = pb.InvokeResponse(
            message=self.message.to_proto(), usage=self.usage.to_proto(), direct=self.direct
        )
        if self.answer_schema is not None:
            response.input_required.SetInParent()
            if self.answer_schema:
                schema = struct_pb2.Struct()
                schema.update(self.answer_schema)
                response.input_required.answer_schema.CopyFrom(schema)
        return response


async def invoke(
    agent: Agent,
    llm: LLMProvider,
    skill_id: str,
    proto: message_pb2.AgentMessage,
    *,
    deadline: float | None,
    emit: Emit | None,
    metadata: Mapping[str, str],
    history: Sequence[message_pb2.AgentMessage] = (),
) -> Outcome:
    """An Invoke from the request message as it came off the wire to the skill's reply.

    With a `history` (the skill asked before), the skill's input is the first request's and
    `proto` is the answer to the last question."""
    request = Message.from_proto(proto)
    earlier = tuple(Message.from_proto(turn) for turn in history)
    skill, data = parse_request(agent, skill_id, earlier[0] if earlier else request)
    return await perform(
        agent, llm, skill, data, request, deadline=deadline, emit=emit, metadata=metadata, history=earlier
    )


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
    history: tuple[Message, ...] = (),
) -> Outcome:
    """Run the skill's handler with a real Context; its reply (or question) as a response message."""
    ctx = Context(
        agent=agent.name,
        skill=skill.id,
        message=request,
        llm=llm,
        deadline=deadline,
        emit=emit,
        metadata=metadata,
        history=history,
    )
    result = await skill.handler(data, ctx)
    if isinstance(result, Ask):
        if not skill.asks_for_input:
            raise TypeError(f"skill {skill.id!r} asked a question but does not declare asks_for_input=True")
        question = Reply(text=result.question, data=result.data)
        message = reply_message(agent, llm, request, skill, question)
        return Outcome(skill, message, ctx.usage, answer_schema=result.schema_dict() or {})
    reply = Reply(text=result) if isinstance(result, str) else result
    if reply.direct and not skill.direct_replies:
        # Its card would tell the gateway otherwise, and an A2A stream, committed to a task by
        # then, could not give the reply as the Message it is.
        raise TypeError(f"skill {skill.id!r} replied directly but does not declare direct_replies=True")
    message = reply_message(agent, llm, request, skill, reply)
    return Outcome(skill, message, ctx.usage, direct=reply.direct)


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
        parts=(*parts_of(reply.text, reply.data_dict()), *reply.files),
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
