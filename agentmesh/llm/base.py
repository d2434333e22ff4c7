"""The provider interface every LLM backend implements: generate, and stream, with token usage."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agentmesh.messages import TokenUsage
from agentmesh.prometheus import count_tokens


@dataclass(frozen=True, slots=True)
class Turn:
    """One earlier turn of a conversation."""

    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """What an agent asks a model.

    `task` and `data` are the structured form of the request: real models read
    `system` and `user`, while the offline provider composes its answer from
    `data` with the composer registered for `task`. `json_schema`, when set,
    asks for a JSON object of that shape.
    """

    user: str
    system: str = ""
    task: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    json_schema: Mapping[str, Any] | None = None
    history: Sequence[Turn] = ()


@dataclass(frozen=True, slots=True)
class Generation:
    text: str
    usage: TokenUsage
    provider: str
    model: str


@dataclass(frozen=True, slots=True)
class GenerationChunk:
    """A piece of streamed output; the last chunk of a stream carries the usage."""

    text: str
    usage: TokenUsage | None = None


class LLMProvider(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    async def generate(self, prompt: Prompt) -> Generation: ...

    def stream(self, prompt: Prompt) -> AsyncIterator[GenerationChunk]: ...


async def complete(
    llm: LLMProvider, prompt: Prompt, emit: Callable[[str], Awaitable[None]] | None = None
) -> Generation:
    """The whole completion; with `emit`, it is streamed and each piece emitted as it arrives.

    Its tokens are counted in `agentmesh_llm_tokens_total` (see agentmesh.prometheus)."""
    generation = await _complete(llm, prompt, emit)
    count_tokens(llm.name, generation.usage.input_tokens, generation.usage.output_tokens)
    return generation


async def _complete(
    llm: LLMProvider, prompt: Prompt, emit: Callable[[str], Awaitable[None]] | None
) -> Generation:
    if emit is None:
        return await llm.generate(prompt)
    pieces: list[str] = []
    usage = TokenUsage()
    async for chunk in llm.stream(prompt):
        if chunk.text:
            pieces.append(chunk.text)
            await emit(chunk.text)
        if chunk.usage is not None:
            usage = chunk.usage
    return Generation("".join(pieces), usage, llm.name, llm.model)
