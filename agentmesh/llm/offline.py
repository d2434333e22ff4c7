"""The offline provider: deterministic answers with no network and no key.

Each agent registers a composer per task that builds a role-appropriate answer
from the prompt's structured data, so the offline mesh produces output with the
same shape a real model is asked for. Tokens are counted as whitespace-separated
words, which keeps usage figures deterministic too.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from agentmesh.llm.base import Generation, GenerationChunk, Prompt
from agentmesh.messages import TokenUsage

#: Builds the answer to one task from the prompt's data: a JSON object or text.
Composer = Callable[[Mapping[str, Any]], Mapping[str, Any] | str]

OFFLINE_MODEL = "offline-1"


class OfflineProvider:
    """Answers from registered composers, optionally after a simulated thinking time."""

    def __init__(self, composers: Mapping[str, Composer] | None = None, *, latency_s: float = 0.0) -> None:
        self._composers = dict(composers or {})
        self._latency_s = latency_s

    @property
    def name(self) -> str:
        return "offline"

    @property
    def model(self) -> str:
        return OFFLINE_MODEL

    async def generate(self, prompt: Prompt) -> Generation:
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        text = self._compose(prompt)
        return Generation(text=text, usage=_usage(prompt, text), provider=self.name, model=self.model)

    async def stream(self, prompt: Prompt) -> AsyncIterator[GenerationChunk]:
        text = self._compose(prompt)
        pieces = re.findall(r"\S+\s*|\s+", text) or [""]
        pause = self._latency_s / len(pieces)
        for i, piece in enumerate(pieces):
            if pause:
                await asyncio.sleep(pause)
            last = i == len(pieces) - 1
            yield GenerationChunk(piece, _usage(prompt, text) if last else None)

    def _compose(self, prompt: Prompt) -> str:
        composer = self._composers.get(prompt.task)
        if composer is None:
            return _reply_without_composer(prompt)
        answer = composer(prompt.data)
        return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False)


def _reply_without_composer(prompt: Prompt) -> str:
    """A plain conversational answer that shows what was understood and what is remembered."""
    words = prompt.user.split()
    gist = " ".join(words[:24]) + (" …" if len(words) > 24 else "")
    remembered = sum(1 for turn in prompt.history if turn.role == "user")
    memory = f" Earlier in this conversation you sent {remembered} message(s)." if remembered else ""
    return f'(offline model) You said: "{gist}".{memory} Configure AGENTMESH_LLM for a real model.'


def _usage(prompt: Prompt, text: str) -> TokenUsage:
    prompt_words = len(prompt.system.split()) + len(prompt.user.split())
    prompt_words += sum(len(turn.text.split()) for turn in prompt.history)
    return TokenUsage(input_tokens=prompt_words, output_tokens=len(text.split()))
