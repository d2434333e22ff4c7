"""Each shipped agent, started as its own process through `agentmesh agent NAME --port 0`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
import pytest_asyncio

from agentmesh import health
from agentmesh.messages import DataPart, Message, TextPart, struct_to_dict
from agentmesh.runtime import AGENT_SERVICE
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh_services import AGENTS
from tests.conftest import RunningAgent, running_agent
from tests.support.mesh import list_services
from tests.support.samples import SAMPLES


@pytest_asyncio.fixture(scope="module", params=list(AGENTS))
async def agent(request: pytest.FixtureRequest) -> AsyncIterator[RunningAgent]:
    async with running_agent(request.param) as running:
        yield running
    assert running.process.returncode == 0


async def test_health_check_and_watch_report_serving(agent: RunningAgent) -> None:
    for service in ("", AGENT_SERVICE):
        assert await health.check(agent.channel, service) == health.SERVING
        statuses = health.watch(agent.channel, service)
        assert await anext(statuses) == health.SERVING
        await statuses.aclose()


async def test_reflection_lists_the_agent_service(agent: RunningAgent) -> None:
    assert {AGENT_SERVICE, "grpc.health.v1.Health"} <= await list_services(agent.channel)


async def test_reflection_answers_as_v1_and_v1alpha(agent: RunningAgent) -> None:
    v1 = await list_services(agent.channel, "v1")
    assert v1 == await list_services(agent.channel, "v1alpha")
    assert {AGENT_SERVICE, "grpc.health.v1.Health"} <= v1


async def test_card_describes_each_skill_and_its_input(agent: RunningAgent) -> None:
    card = (await agent.stub.GetAgentCard(pb.GetAgentCardRequest(), timeout=5)).card
    assert card.name == agent.name
    assert card.llm_provider == "offline"
    sample = SAMPLES[agent.name]
    skill = next(s for s in card.skills if s.id == sample.skill)
    assert set(sample.valid) & set(struct_to_dict(skill.input_schema)["properties"])
    assert struct_to_dict(skill.output_schema)["properties"]


async def test_invoke_answers_with_structured_data_and_text(agent: RunningAgent) -> None:
    sample = SAMPLES[agent.name]
    response = await agent.invoke(sample.skill, sample.valid)
    reply = Message.from_proto(response.message)
    assert reply.sender == agent.name
    assert reply.metadata["llm_provider"] == "offline"
    assert sample.check(reply.data), reply.data
    assert reply.text.strip()
    assert [type(p) for p in reply.parts] == [TextPart, DataPart]
    assert response.usage.total_tokens == response.usage.input_tokens + response.usage.output_tokens > 0


async def test_invoke_stream_ends_with_the_final_message(agent: RunningAgent) -> None:
    sample = SAMPLES[agent.name]
    request = pb.InvokeStreamRequest(skill=sample.skill, message=Message.request(sample.valid).to_proto())
    events = [event async for event in agent.stub.InvokeStream(request, timeout=20)]
    kinds = [event.WhichOneof("event") for event in events]
    assert kinds[-1] == "result" and kinds.count("result") == 1
    final = Message.from_proto(events[-1].result.message)
    assert sample.check(final.data)
    chunks = [event.chunk for event in events[:-1]]
    assert [c.index for c in chunks] == list(range(len(chunks)))
    if agent.name == "writer":
        assert len(chunks) > 1
        assert "".join(c.text for c in chunks) == final.text


async def test_invalid_input_names_the_field_and_leaves_the_agent_healthy(agent: RunningAgent) -> None:
    sample = SAMPLES[agent.name]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agent.invoke(sample.skill, sample.invalid)
    details = details_of(caught.value)
    assert details.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (details.domain, details.reason) == ("agentmesh", "INVALID_INPUT")
    assert sample.bad_field in [v.field for v in details.violations]
    assert await health.check(agent.channel) == health.SERVING
    assert sample.check(Message.from_proto((await agent.invoke(sample.skill, sample.valid)).message).data)


async def test_unknown_skill_and_missing_message_are_invalid(agent: RunningAgent) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agent.invoke("no-such-skill", {})
    details = details_of(caught.value)
    assert (details.code, details.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_SKILL")
    assert [v.field for v in details.violations] == ["skill"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await agent.stub.Invoke(pb.InvokeRequest(skill=SAMPLES[agent.name].skill), timeout=5)
    assert [v.field for v in details_of(caught.value).violations] == ["message"]


async def test_the_researcher_researches_a_subtopic_given_by_its_title_alone() -> None:
    """The card says a subtopic may be its title; that used to fail with INTERNAL every time."""
    async with running_agent("researcher") as researcher:
        for title in ("Costs", "x" * 1000):
            response = await researcher.invoke("research", {"subtopic": title, "topic": "Open source"})
            assert Message.from_proto(response.message).data["findings"]
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await researcher.invoke("research", {"subtopic": ""})
        assert details_of(caught.value).code == grpc.StatusCode.INVALID_ARGUMENT
