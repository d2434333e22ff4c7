"""The in-process skill environment (see the package docstring)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentmesh.errors import DeadlineExceeded
from agentmesh.llm import LLMProvider, OfflineProvider
from agentmesh.messages import Message, TokenUsage
from agentmesh.runtime.agent import Agent
from agentmesh.runtime.invocation import deadline_in, parse_request, perform


@dataclass(frozen=True, slots=True)
class SkillResult:
    """What a skill answered: the reply message, its data and text, what it streamed, its token usage."""

    reply: Message
    usage: TokenUsage
    chunks: tuple[str, ...] = field(default=())

    @property
    def data(self) -> dict[str, Any]:
        return self.reply.data

    @property
    def text(self) -> str:
        return self.reply.text


class SkillEnvironment:
    """Calls an agent's skills in-process, as the agent's server would."""

    def __init__(
        self,
        agent: Agent,
        *,
        llm: LLMProvider | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.agent = agent
        self.llm: LLMProvider = llm if llm is not None else OfflineProvider(agent.composers)
        #: gRPC metadata every call carries (lower-case keys), e.g. an idempotency key or a traceparent.
        self.metadata = dict(metadata or {})

    async def invoke(
        self,
        skill: str,
        data: Mapping[str, Any] | None = None,
        *,
        text: str | None = None,
        stream: bool = False,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SkillResult:
        """Call `skill` with `data` (and/or `text`), as Invoke does (InvokeStream with `stream=True`:
        what the handler emits is collected in `chunks`)."""
        request = Message.request(
            data if data is not None or text is None else None, text=text, sender="test"
        )
        parsed_skill, parsed = parse_request(self.agent, skill, request)
        chunks: list[str] = []

        async def collect(piece: str) -> None:
            chunks.append(piece)

        work = perform(
            self.agent,
            self.llm,
            parsed_skill,
            parsed,
            request,
            deadline=deadline_in(timeout),
            emit=collect if stream else None,
            metadata={**self.metadata, **(metadata or {})},
        )
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                outcome = await work
        except TimeoutError:
            if not deadline.expired():
                raise  # the handler's own timeout, not the caller's deadline
            raise DeadlineExceeded(f"skill {skill!r} did not answer within {timeout:g}s") from None
        return SkillResult(outcome.message, outcome.usage, tuple(chunks))
