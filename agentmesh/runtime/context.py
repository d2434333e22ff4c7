"""What a handler gets besides its input: the request, the LLM, streaming output and the deadline."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from agentmesh.errors import FieldViolation, InvalidInput, ProviderUnavailable
from agentmesh.llm.base import Generation, LLMProvider, Prompt, complete
from agentmesh.messages import Message, TokenUsage
from agentmesh.relay import Emit

T = TypeVar("T", bound=BaseModel)


class Context:
    """Per-call state. Token usage of every model call made through it adds up into the reply."""

    def __init__(
        self,
        *,
        agent: str,
        skill: str,
        message: Message,
        llm: LLMProvider,
        deadline: float | None = None,
        emit: Emit | None = None,
        metadata: Mapping[str, str] | None = None,
        history: tuple[Message, ...] = (),
    ) -> None:
        self.agent = agent
        self.skill = skill
        self.message = message
        #: The conversation before `message` when the skill asked for input: the first request,
        #: then each question asked and the answer it got, ending with the question `message`
        #: answers. Empty on a first call.
        self.history = history
        self.llm = llm
        self.usage = TokenUsage()
        #: The call's gRPC metadata (lower-case keys), e.g. the gateway's idempotency key.
        self.metadata: Mapping[str, str] = dict(metadata or {})
        self._deadline = deadline
        self._emit = emit

    @property
    def answer(self) -> Message | None:
        """The answer to the question this skill asked last (`Ask`), or None on a first call."""
        return self.message if self.history else None

    @property
    def turn(self) -> int:
        """How many of this skill's questions have been answered in this conversation."""
        return len(self.history) // 2

    def answer_as(self, model: type[T]) -> T:
        """The answer's data as `model` (InvalidInput naming each bad field if it does not fit)."""
        if self.answer is None:
            raise ValueError("no question was asked: this is the conversation's first call")
        try:
            return model.model_validate(self.answer.data)
        except ValidationError as exc:
            raise invalid_answer(exc) from None

    @property
    def idempotency_key(self) -> str:
        """Same for every delivery of one attempt of one workflow step: dedupe side effects on it."""
        return self.metadata.get("agentmesh-idempotency-key", "")

    @property
    def principal(self) -> str:
        """Who the gateway works for in this call: the principal that started the run (empty
        when the gateway runs without authentication). Trust it only from a gateway that has
        proved itself, i.e. when this agent demands client certificates (mutual TLS)."""
        return self.metadata.get("agentmesh-principal", "")

    @property
    def streaming(self) -> bool:
        """Whether the caller reads output as it is produced (InvokeStream)."""
        return self._emit is not None

    async def emit(self, text: str) -> None:
        """Send a piece of output text now when the caller streams; a no-op for unary calls."""
        if self._emit is not None and text:
            await self._emit(text)

    def time_remaining(self) -> float | None:
        """Seconds until the caller's deadline, or None when the caller set none."""
        return None if self._deadline is None else max(0.0, self._deadline - time.monotonic())

    async def generate(self, prompt: Prompt) -> Generation:
        """Ask the model; when the caller streams, its output is emitted as it arrives."""
        generation = await complete(self.llm, self._with_task(prompt), self._emit)
        self.usage += generation.usage.of_model(generation.model)
        return generation

    async def generate_json(self, prompt: Prompt, model: type[T]) -> T:
        """Ask the model for a JSON object of `model`'s shape and validate it."""
        prompt = dataclasses.replace(self._with_task(prompt), json_schema=model.model_json_schema())
        generation = await complete(self.llm, prompt)
        self.usage += generation.usage.of_model(generation.model)
        try:
            return model.model_validate(json.loads(_strip_fences(generation.text)))
        except (ValueError, ValidationError) as exc:
            # A model that answers off-schema may well answer on-schema next time: retryable.
            raise ProviderUnavailable(
                f"{self.llm.name} answered with output that does not fit {model.__name__}: {exc}",
                reason="LLM_BAD_OUTPUT",
                metadata={"provider": self.llm.name, "model": self.llm.model},
            ) from None

    def _with_task(self, prompt: Prompt) -> Prompt:
        return prompt if prompt.task else dataclasses.replace(prompt, task=self.skill)


def _strip_fences(text: str) -> str:
    """Models often wrap JSON in a markdown code fence even when asked not to."""
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.split("\n", 1)[1] if "\n" in stripped else ""
        stripped = stripped.rsplit("```", 1)[0]
    return stripped


def invalid_answer(error: ValidationError) -> InvalidInput:
    violations = [
        FieldViolation("answer." + ".".join(str(p) for p in err["loc"]), err["msg"]) for err in error.errors()
    ]
    summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
    return InvalidInput(f"the answer does not fit: {summary}", violations, reason="INVALID_ANSWER")
