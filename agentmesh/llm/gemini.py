"""Gemini through the google-genai SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from agentmesh.errors import ProviderError, ProviderUnavailable, provider_error_for_http_status
from agentmesh.llm.base import Generation, GenerationChunk, Prompt
from agentmesh.messages import TokenUsage

DEFAULT_MODEL = "gemini-2.5-flash"


class GeminiProvider:
    def __init__(self, *, api_key: str, model: str = DEFAULT_MODEL, base_url: str | None = None) -> None:
        # Retries are the orchestrator's job (it sees every attempt); the SDK must not retry behind it.
        http_options = types.HttpOptions(base_url=base_url) if base_url else None
        self._client = genai.Client(api_key=api_key, http_options=http_options)
        self._model = model

    @property
    def name(self) -> str:
        return "gemini"

    @property
    def model(self) -> str:
        return self._model

    async def generate(self, prompt: Prompt) -> Generation:
        try:
            response = await self._client.aio.models.generate_content(
                model=self._model, contents=_contents(prompt), config=_config(prompt)
            )
        except Exception as exc:
            raise _translate(exc) from exc
        return Generation(
            text=response.text or "", usage=_usage(response), provider=self.name, model=self._model
        )

    async def stream(self, prompt: Prompt) -> AsyncIterator[GenerationChunk]:
        usage = TokenUsage()
        try:
            chunks = await self._client.aio.models.generate_content_stream(
                model=self._model, contents=_contents(prompt), config=_config(prompt)
            )
            async for chunk in chunks:
                if chunk.usage_metadata is not None:
                    usage = _usage(chunk)
                if chunk.text:
                    yield GenerationChunk(chunk.text)
        except Exception as exc:
            raise _translate(exc) from exc
        yield GenerationChunk("", usage)


def _contents(prompt: Prompt) -> list[types.Content]:
    contents = [
        types.Content(role="user" if turn.role == "user" else "model", parts=[types.Part(text=turn.text)])
        for turn in prompt.history
    ]
    contents.append(types.Content(role="user", parts=[types.Part(text=prompt.user)]))
    return contents


def _config(prompt: Prompt) -> types.GenerateContentConfig:
    extra: dict[str, Any] = {}
    if prompt.json_schema is not None:
        extra = {"response_mime_type": "application/json", "response_json_schema": dict(prompt.json_schema)}
    return types.GenerateContentConfig(system_instruction=prompt.system or None, **extra)


def _usage(response: types.GenerateContentResponse) -> TokenUsage:
    meta = response.usage_metadata
    if meta is None:
        return TokenUsage()
    return TokenUsage(
        input_tokens=meta.prompt_token_count or 0,
        output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
    )


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, genai_errors.APIError):
        return provider_error_for_http_status(exc.code, exc.message or str(exc), provider="gemini")
    if isinstance(exc, httpx2.TransportError):
        return ProviderUnavailable(f"gemini is unreachable: {exc}", metadata={"provider": "gemini"})
    return exc
