"""Every skill of every shipped agent, unit-tested in-process with `agentmesh.testing.SkillEnvironment`:
no server, no process; the same validation, Context and reply conversion as the servicer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agentmesh.errors import DeadlineExceeded, InvalidInput, ProviderRateLimited
from agentmesh.llm import Generation, GenerationChunk, OfflineProvider, Prompt
from agentmesh.llm.openai_compat import OpenAICompatibleProvider
from agentmesh.testing import SkillEnvironment
from agentmesh_services import load_agent, python_agents
from tests.support.fakes.openai import FakeOpenAI
from tests.support.samples import SAMPLES, SKILL_INPUTS

#: Every skill of every shipped Python agent, and those of them that stream.
SKILLS = sorted(k for k in SKILL_INPUTS if k[0] in python_agents())
STREAMING = [(agent, skill) for agent, skill in SKILLS if load_agent(agent).find_skill(skill).streams]


def test_every_skill_of_every_python_agent_has_an_input_here() -> None:
    skills = {(name, skill.id) for name in python_agents() for skill in load_agent(name).skills}
    assert skills <= set(SKILL_INPUTS)


@pytest.mark.parametrize(("agent", "skill"), SKILLS)
async def test_a_valid_input_gets_data_of_the_output_model_and_text(agent: str, skill: str) -> None:
    served = load_agent(agent)
    result = await SkillEnvironment(served).invoke(skill, SKILL_INPUTS[(agent, skill)])
    output_model = served.find_skill(skill).output_model
    assert output_model is not None
    output_model.model_validate(result.data)  # raises if the reply does not fit its card
    assert result.text.strip()
    assert result.reply.metadata["llm_provider"] == "offline"
    assert result.usage.total_tokens > 0


@pytest.mark.parametrize("agent", sorted(set(SAMPLES) & set(python_agents())))
async def test_invalid_input_gets_the_field_violations_the_server_sends(agent: str) -> None:
    sample = SAMPLES[agent]
    with pytest.raises(InvalidInput) as caught:
        await SkillEnvironment(load_agent(agent)).invoke(sample.skill, sample.invalid)
    assert sample.bad_field in [v.field for v in caught.value.violations]


@pytest.mark.parametrize(("agent", "skill"), STREAMING)
async def test_a_streaming_skill_emits_chunks_that_make_up_its_text(agent: str, skill: str) -> None:
    result = await SkillEnvironment(load_agent(agent)).invoke(
        skill, SKILL_INPUTS[(agent, skill)], stream=True
    )
    assert len(result.chunks) > 1
    assert "".join(result.chunks) == result.text


class RateLimited(OfflineProvider):
    """A model that always answers 429, as a provider's client reports it."""

    async def generate(self, prompt: Prompt) -> Generation:
        raise ProviderRateLimited("slow down", metadata={"provider": "test"})

    async def stream(self, prompt: Prompt) -> AsyncIterator[GenerationChunk]:
        raise ProviderRateLimited("slow down", metadata={"provider": "test"})
        yield GenerationChunk("")  # pragma: no cover - makes this an async generator


@pytest.mark.parametrize(("agent", "skill"), SKILLS)
async def test_a_provider_failure_propagates_as_the_provider_error(agent: str, skill: str) -> None:
    served = load_agent(agent)
    env = SkillEnvironment(served, llm=RateLimited())
    streams = served.find_skill(skill).streams  # a streaming call asks the model for a stream
    with pytest.raises(ProviderRateLimited):
        await env.invoke(skill, SKILL_INPUTS[(agent, skill)], stream=streams)


async def test_a_rate_limited_http_api_propagates_as_the_provider_error() -> None:
    """The real OpenAI-compatible client against a local server answering 429 as OpenAI does."""
    with FakeOpenAI() as fake:
        llm = OpenAICompatibleProvider(base_url=fake.base_url, model="m", api_key="")
        fake.fail(429, "slow down")
        with pytest.raises(ProviderRateLimited) as caught:
            await SkillEnvironment(load_agent("writer"), llm=llm).invoke(
                "draft", SKILL_INPUTS[("writer", "draft")], stream=True
            )
    assert caught.value.metadata["http_status"] == "429"


class Thinking(OfflineProvider):
    """The offline model with a long simulated thinking time, noting when it is asked and whether
    the call was given up while it thought."""

    def __init__(self, agent: str) -> None:
        super().__init__(load_agent(agent).composers, latency_s=30)
        self.asked = asyncio.Event()
        self.abandoned = False

    async def generate(self, prompt: Prompt) -> Generation:
        self.asked.set()
        try:
            return await super().generate(prompt)
        except asyncio.CancelledError:
            self.abandoned = True
            raise


@pytest.mark.parametrize(("agent", "skill"), SKILLS)
async def test_a_deadline_cancels_a_slow_handler(agent: str, skill: str) -> None:
    llm = Thinking(agent)
    slow = SkillEnvironment(load_agent(agent), llm=llm)
    with pytest.raises(DeadlineExceeded):
        await asyncio.wait_for(slow.invoke(skill, SKILL_INPUTS[(agent, skill)], timeout=0.05), 5)
    assert llm.abandoned


@pytest.mark.parametrize(("agent", "skill"), SKILLS)
async def test_cancelling_the_call_cancels_the_handler(agent: str, skill: str) -> None:
    llm = Thinking(agent)
    call = asyncio.create_task(
        SkillEnvironment(load_agent(agent), llm=llm).invoke(skill, SKILL_INPUTS[(agent, skill)])
    )
    await asyncio.wait_for(llm.asked.wait(), 5)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(call, 5)
    assert llm.abandoned


async def test_metadata_reaches_the_handler_context() -> None:
    """What the gateway sends (the idempotency key) is what a handler reads from its Context."""
    from agentmesh import Agent, Context, Reply

    echoing = Agent("echoing")

    @echoing.skill("key", "Answer with the call's idempotency key.")
    async def key(data: object, ctx: Context) -> Reply:
        return Reply(data={"key": ctx.idempotency_key, "left": ctx.time_remaining() is not None})

    env = SkillEnvironment(echoing, metadata={"agentmesh-idempotency-key": "run/step/-/1"})
    result = await env.invoke("key", text="hello", timeout=5)
    assert result.data == {"key": "run/step/-/1", "left": True}
