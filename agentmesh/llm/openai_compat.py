"""Any OpenAI-compatible chat completions server (Ollama, vLLM, LM Studio) through the openai SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import openai

from agentmesh.errors import ProviderError, ProviderUnavailable, provider_error_for_http_status
from agentmesh.llm.base import Generation, GenerationChunk, Prompt
from agentmesh.messages import TokenUsage

if TYPE_CHECKING:
    from openai.types.completion_usage import CompletionUsage

DEFAULT_BASE_URL = "http://localhost:11434/v1"  # Ollama's OpenAI-compatible endpoint
DEFAULT_MODEL = "llama3.2"


class OpenAICompatibleProvider:
    def __init__(
        self, *, base_url: str = DEFAULT_BASE_URL, model: str = DEFAULT_MODEL, api_key: str = ""
    ) -> None:
        # Local servers ignore the key but the SDK insists on one. Retries are the orchestrator's job.
        self._client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key or "unused", max_retries=0)
        self._model = model

    @property
    def name(self) -> str:
        return "openai"

    @property
    def model(self) -> str:
        return self._model

    async def generate(self, prompt: Prompt) -> Generation:
        try:
            response = await self._client.chat.completions.create(
                model=self._model, messages=_messages(prompt), **_format(prompt)
            )
        except Exception as exc:
            raise _translate(exc) from exc
        text = (response.choices[0].message.content or "") if response.choices else ""
        return Generation(text=text, usage=_usage(response.usage), provider=self.name, model=self._model)

    async def stream(self, prompt: Prompt) -> AsyncIterator[GenerationChunk]:
        usage = TokenUsage()
        try:
            chunks = await self._client.chat.completions.create(
                model=self._model,
                messages=_messages(prompt),
                stream=True,
                stream_options={"include_usage": True},
                **_format(prompt),
            )
            async for chunk in chunks:
                if chunk.usage is not None:
                    usage = _usage(chunk.usage)
                if chunk.choices and chunk.choices[0].delta.content:
                    yield GenerationChunk(chunk.choices[0].delta.content)
        except Exception as exc:
            raise _translate(exc) from exc
        yield GenerationChunk("", usage)


def _messages(prompt: Prompt) -> list[Any]:
    system = prompt.system
    if prompt.json_schema is not None:
        # json_object mode is the widest-supported structured mode; the schema travels in the prompt.
        system += "\nAnswer with one JSON object matching this JSON Schema:\n" + json.dumps(
            dict(prompt.json_schema)
        )
    messages: list[Any] = [{"role": "system", "content": system}] if system.strip() else []
    messages += [{"role": turn.role, "content": turn.text} for turn in prompt.history]
    messages.append({"role": "user", "content": prompt.user})
    return messages


def _format(prompt: Prompt) -> dict[str, Any]:
    return {"response_format": {"type": "json_object"}} if prompt.json_schema is not None else {}


def _usage(usage: CompletionUsage | None) -> TokenUsage:
    if usage is None:
        return TokenUsage()
    return TokenUsage(input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens)


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        retry_after = exc.response.headers.get("retry-after")
        return provider_error_for_http_status(
            exc.status_code,
            exc.message,
            provider="openai",
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
        )
    if isinstance(exc, openai.APIConnectionError):
        return ProviderUnavailable(
            f"the OpenAI-compatible server is unreachable: {exc}", metadata={"provider": "openai"}
        )
    return exc
