"""The Gemini and OpenAI-compatible providers, run through their real SDKs against local fakes."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

from agentmesh.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from agentmesh.llm import LLMProvider, Prompt, provider_from_env
from agentmesh.llm.gemini import GeminiProvider
from agentmesh.llm.openai_compat import OpenAICompatibleProvider
from agentmesh.messages import TokenUsage
from tests.support.fakes.gemini import FakeGemini
from tests.support.fakes.openai import FakeOpenAI

PROMPT = Prompt(system="Be brief.", user="Say hello.")


@pytest.fixture
def gemini() -> Iterator[FakeGemini]:
    with FakeGemini() as fake:
        yield fake


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def gemini_provider(fake: FakeGemini) -> GeminiProvider:
    return GeminiProvider(api_key="test-key", model="gemini-test", base_url=fake.base_url)


def openai_provider(fake: FakeOpenAI) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(base_url=fake.base_url, model="llama-test")


async def collect(provider: LLMProvider, prompt: Prompt) -> tuple[str, TokenUsage | None]:
    text, usage = "", None
    async for chunk in provider.stream(prompt):
        text += chunk.text
        usage = chunk.usage or usage
    return text, usage


async def test_gemini_generate_returns_text_and_token_counts(gemini: FakeGemini) -> None:
    gemini.answer("Hello there!", prompt_tokens=9, output_tokens=3)
    generation = await gemini_provider(gemini).generate(PROMPT)
    assert generation.text == "Hello there!"
    assert generation.usage == TokenUsage(input_tokens=9, output_tokens=3)
    assert (generation.provider, generation.model) == ("gemini", "gemini-test")
    sent = gemini.requests[0]
    assert sent.path.endswith("/models/gemini-test:generateContent")
    assert sent.headers["x-goog-api-key"] == "test-key"
    assert sent.body["contents"][-1]["parts"][0]["text"] == "Say hello."
    assert sent.body["systemInstruction"]["parts"][0]["text"] == "Be brief."


async def test_gemini_asks_for_json_when_the_prompt_has_a_schema(gemini: FakeGemini) -> None:
    gemini.answer('{"a": 1}')
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    await gemini_provider(gemini).generate(Prompt(user="json please", json_schema=schema))
    config = gemini.requests[0].body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseJsonSchema"] == schema


async def test_gemini_stream_yields_chunks_then_usage(gemini: FakeGemini) -> None:
    gemini.stream("Streaming from Gemini works.", prompt_tokens=4, output_tokens=6)
    chunks = [c async for c in gemini_provider(gemini).stream(PROMPT)]
    assert len([c for c in chunks if c.text]) > 1
    assert "".join(c.text for c in chunks) == "Streaming from Gemini works."
    assert chunks[-1].usage == TokenUsage(input_tokens=4, output_tokens=6)
    assert gemini.requests[0].path.endswith("/models/gemini-test:streamGenerateContent?alt=sse")


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (429, ProviderRateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (400, ProviderRejected, grpc.StatusCode.INVALID_ARGUMENT),
        (500, ProviderUnavailable, grpc.StatusCode.UNAVAILABLE),
    ],
)
async def test_gemini_http_errors_carry_their_retry_meaning(
    gemini: FakeGemini, status: int, error: type[Exception], code: grpc.StatusCode
) -> None:
    gemini.fail(status)
    with pytest.raises(error) as caught:
        await gemini_provider(gemini).generate(PROMPT)
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert caught.value.retryable is (status != 400)  # type: ignore[attr-defined]
    assert len(gemini.requests) == 1, "the SDK must not retry behind the orchestrator's back"


async def test_openai_generate_returns_text_and_token_counts(openai_server: FakeOpenAI) -> None:
    openai_server.answer("Hi!", prompt_tokens=12, output_tokens=2)
    generation = await openai_provider(openai_server).generate(PROMPT)
    assert generation.text == "Hi!"
    assert generation.usage == TokenUsage(input_tokens=12, output_tokens=2)
    sent = openai_server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.body["model"] == "llama-test"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ]


async def test_openai_asks_for_a_json_object_when_the_prompt_has_a_schema(openai_server: FakeOpenAI) -> None:
    openai_server.answer('{"a": 1}')
    await openai_provider(openai_server).generate(Prompt(user="json", json_schema={"type": "object"}))
    body = openai_server.requests[0].body
    assert body["response_format"] == {"type": "json_object"}
    assert '"type": "object"' in body["messages"][0]["content"]


async def test_openai_stream_yields_chunks_then_usage(openai_server: FakeOpenAI) -> None:
    openai_server.stream("Streaming from an OpenAI-compatible server.", prompt_tokens=8, output_tokens=9)
    text, usage = await collect(openai_provider(openai_server), PROMPT)
    assert text == "Streaming from an OpenAI-compatible server."
    assert usage == TokenUsage(input_tokens=8, output_tokens=9)
    body = openai_server.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (429, ProviderRateLimited, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (400, ProviderRejected, grpc.StatusCode.INVALID_ARGUMENT),
        (503, ProviderUnavailable, grpc.StatusCode.UNAVAILABLE),
    ],
)
async def test_openai_http_errors_carry_their_retry_meaning(
    openai_server: FakeOpenAI, status: int, error: type[Exception], code: grpc.StatusCode
) -> None:
    openai_server.fail(status, headers={"retry-after": "7"} if status == 429 else None)
    with pytest.raises(error) as caught:
        await openai_provider(openai_server).generate(PROMPT)
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert len(openai_server.requests) == 1, "the SDK must not retry behind the orchestrator's back"
    if status == 429:
        assert caught.value.metadata["retry_after_seconds"] == "7"  # type: ignore[attr-defined]


async def test_openai_unreachable_server_is_retryable() -> None:
    with FakeOpenAI() as fake:
        url = fake.base_url
    with pytest.raises(ProviderUnavailable):
        await OpenAICompatibleProvider(base_url=url, model="m").generate(PROMPT)


async def test_gemini_unreachable_server_is_retryable() -> None:
    # The SDK's transport errors are its HTTP client's (httpx2 since google-genai 3): the lower
    # bound in pyproject.toml must be a version whose errors the provider translates.
    with FakeGemini() as fake:
        url = fake.base_url
    with pytest.raises(ProviderUnavailable):
        await GeminiProvider(api_key="k", model="m", base_url=url).generate(PROMPT)


def test_provider_is_chosen_by_environment(gemini: FakeGemini) -> None:
    assert provider_from_env(env={}).name == "offline"
    chosen = provider_from_env(env={"AGENTMESH_LLM": "gemini", "GEMINI_API_KEY": "k"})
    assert (chosen.name, chosen.model) == ("gemini", "gemini-2.5-flash")
    chosen = provider_from_env(env={"AGENTMESH_LLM": "openai", "AGENTMESH_OPENAI_MODEL": "qwen"})
    assert (chosen.name, chosen.model) == ("openai", "qwen")
    with pytest.raises(ProviderAuthError, match="GOOGLE_API_KEY"):
        provider_from_env(env={"AGENTMESH_LLM": "gemini"})
    with pytest.raises(ProviderError, match="not one of") as unknown:
        provider_from_env(env={"AGENTMESH_LLM": "claude"})
    assert unknown.value.reason == "LLM_UNKNOWN"
