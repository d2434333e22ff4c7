"""A direct reply (`Reply(direct=True)`): a message in its own right, not a task's result. The agent's
real server says so on the reply (InvokeResponse.direct, with Invoke and InvokeStream) and on the
card (Skill.direct_replies), `SkillEnvironment` the same, and a skill that replies directly without
declaring it is a bug found at its first reply."""

from __future__ import annotations

import grpc
import pytest
from pydantic import BaseModel

from agentmesh import Agent, Context, Reply
from agentmesh.messages import Message
from agentmesh.runtime import agent_host
from agentmesh.testing import SkillEnvironment
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc

agent = Agent("greeter", description="Greets, directly when asked to.")


class Greet(BaseModel):
    name: str
    direct: bool = True


@agent.skill("greet", "Say hello, as a message or a task's result.", input=Greet, direct_replies=True)
async def greet(data: Greet, ctx: Context) -> Reply:
    return Reply(text=f"Hello, {data.name}!", direct=data.direct)


@agent.skill("sneaky", "Replies directly without saying it would.", input=Greet)
async def sneaky(data: Greet, ctx: Context) -> Reply:
    return Reply(text="hi", direct=True)


async def test_skill_environment_tells_a_direct_reply() -> None:
    env = SkillEnvironment(agent)
    result = await env.invoke("greet", {"name": "Ada"})
    assert result.direct and result.text == "Hello, Ada!"
    assert not (await env.invoke("greet", {"name": "Ada", "direct": False})).direct


async def test_a_skill_must_declare_that_it_replies_directly() -> None:
    with pytest.raises(TypeError, match="does not declare direct_replies"):
        await SkillEnvironment(agent).invoke("sneaky", {"name": "x"})


async def test_over_grpc_the_reply_and_the_card_say_so() -> None:
    host = agent_host(agent)
    port = await host.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            card = (await stub.GetAgentCard(pb.GetAgentCardRequest())).card
            assert {s.id: s.direct_replies for s in card.skills} == {"greet": True, "sneaky": False}
            request = Message.request({"name": "Ada"}).to_proto()
            replied = await stub.Invoke(pb.InvokeRequest(skill="greet", message=request), timeout=10)
            assert replied.direct and Message.from_proto(replied.message).text == "Hello, Ada!"
            streamed = [
                r async for r in stub.InvokeStream(pb.InvokeStreamRequest(skill="greet", message=request))
            ]
            assert streamed[-1].result.direct
            plain = Message.request({"name": "Ada", "direct": False}).to_proto()
            assert not (await stub.Invoke(pb.InvokeRequest(skill="greet", message=plain), timeout=10)).direct
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.Invoke(pb.InvokeRequest(skill="sneaky", message=request), timeout=10)
            assert failed.value.code() == grpc.StatusCode.INTERNAL
    finally:
        await host.stop(0)
