"""An agent may ask for input before it answers: `Ask`, then the answer and the conversation so far."""

from __future__ import annotations

import grpc
import pytest
from pydantic import BaseModel

from agentmesh import Agent, Ask, Context, Reply
from agentmesh.errors import InvalidInput
from agentmesh.messages import Message
from agentmesh.runtime import agent_host
from agentmesh.testing import SkillEnvironment
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc

agent = Agent("planner", description="Plans trips, asking what it needs.")


class Trip(BaseModel):
    destination: str


class Budget(BaseModel):
    euros: int


@agent.skill("plan", "Plan a trip; asks for the budget first.", input=Trip, asks_for_input=True)
async def plan(data: Trip, ctx: Context) -> Reply | Ask:
    if ctx.answer is None:
        return Ask(f"What is your budget for {data.destination}?", schema=Budget)
    budget = ctx.answer_as(Budget)
    return Reply(text=f"{data.destination} on {budget.euros} EUR", data={"turns": ctx.turn})


@agent.skill("rude", "Asks without saying it would.", input=Trip)
async def rude(data: Trip, ctx: Context) -> Reply | Ask:
    return Ask("Why?")


async def test_a_skill_asks_then_answers_with_the_first_input_and_the_answer() -> None:
    env = SkillEnvironment(agent)
    asked = await env.invoke("plan", {"destination": "Lisbon"})
    assert asked.asked and asked.text == "What is your budget for Lisbon?"
    assert asked.answer_schema == Budget.model_json_schema()
    done = await env.answer("plan", asked, {"euros": 900})
    assert not done.asked
    assert (done.text, done.data) == ("Lisbon on 900 EUR", {"turns": 1})
    with pytest.raises(InvalidInput) as bad:
        await env.answer("plan", asked, {"euros": "lots"})
    assert [v.field for v in bad.value.violations] == ["answer.euros"]


async def test_a_skill_must_declare_that_it_asks() -> None:
    with pytest.raises(TypeError, match="does not declare asks_for_input"):
        await SkillEnvironment(agent).invoke("rude", {"destination": "x"})


async def test_over_grpc_the_question_is_input_required_and_history_carries_the_conversation() -> None:
    host = agent_host(agent)
    port = await host.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            card = (await stub.GetAgentCard(pb.GetAgentCardRequest())).card
            assert {s.id: s.asks_for_input for s in card.skills} == {"plan": True, "rude": False}
            first = Message.request({"destination": "Oslo"}, context_id="ctx-1").to_proto()
            asked = await stub.Invoke(pb.InvokeRequest(skill="plan", message=first), timeout=10)
            assert asked.HasField("input_required")
            assert asked.input_required.answer_schema["required"] == ["euros"]
            assert asked.message.context_id == "ctx-1"
            answer = Message.request({"euros": 50}, context_id="ctx-1").to_proto()
            request = pb.InvokeStreamRequest(skill="plan", message=answer, history=[first, asked.message])
            replies = [r async for r in stub.InvokeStream(request, timeout=10)]
            final = replies[-1].result
            assert not final.HasField("input_required")
            assert Message.from_proto(final.message).text == "Oslo on 50 EUR"
    finally:
        await host.stop(0)
