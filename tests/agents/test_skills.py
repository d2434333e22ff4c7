"""Every skill of every shipped agent, unit-tested in-process with `agentmesh.testing.SkillEnvironment`:
no server, no process; the same validation, Context and reply conversion as the servicer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from agentmesh.errors import DeadlineExceeded, InvalidInput, ProviderRateLimited
from agentmesh.llm import Generation, GenerationChunk, OfflineProvider, Prompt
from agentmesh.testing import SkillEnvironment
from agentmesh_services import load_agent, python_agents
from tests.support.samples import SAMPLES, SKILL_INPUTS


def test_every_skill_of_every_python_agent_has_an_input_here() -> None:
    skills = {(name, skill.id) for name in python_agents() for skill in load_agent(name).skills}
    assert skills <= set(SKILL_INPUTS)


@pytest.mark.parametrize(("agent", "skill"), sorted(k for k in SKILL_INPUTS if k[0] in python_agents()))
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


async def test_a_streaming_skill_emits_chunks_that_make_up_its_text() -> None:
    writer = load_agent("writer")
    assert writer.find_skill("draft").streams
    result = await SkillEnvironment(writer).invoke("draft", SKILL_INPUTS[("writer", "draft")], stream=True)
    assert len(result.chunks) > 1
    assert "".join(result.chunks).strip() in result.text


class RateLimited(OfflineProvider):
    """A model that always answers 429, as a provider's client reports it."""

    async def generate(self, prompt: Prompt) -> Generation:
        raise ProviderRateLimited("slow down", metadata={"provider": "test"})

    async def stream(self, prompt: Prompt) -> AsyncIterator[GenerationChunk]:
        raise ProviderRateLimited("slow down", metadata={"provider": "test"})
        yield GenerationChunk("")  # pragma: no cover - makes this an async generator


async def test_a_provider_failure_propagates_as_the_provider_error() -> None:
    env = SkillEnvironment(load_agent("critic"), llm=RateLimited())
    with pytest.raises(ProviderRateLimited):
        await env.invoke("review", SKILL_INPUTS[("critic", "review")])


async def test_a_deadline_cancels_a_slow_handler() -> None:
    slow = SkillEnvironment(
        load_agent("researcher"), llm=OfflineProvider(load_agent("researcher").composers, latency_s=5)
    )
    with pytest.raises(DeadlineExceeded):
        await slow.invoke("plan", SKILL_INPUTS[("researcher", "plan")], timeout=0.1)


async def test_cancelling_the_call_cancels_the_handler() -> None:
    researcher = load_agent("researcher")
    slow = SkillEnvironment(researcher, llm=OfflineProvider(researcher.composers, latency_s=5))
    call = asyncio.create_task(slow.invoke("plan", SKILL_INPUTS[("researcher", "plan")]))
    await asyncio.sleep(0.05)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call


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
