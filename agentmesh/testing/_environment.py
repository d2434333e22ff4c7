"""The in-process skill environment (see the package docstring)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentmesh.errors import DeadlineExceeded
from agentmesh.llm import LLMProvider, OfflineProvider
from agentmesh.messages import FilePart, Message, RawPart, TokenUsage, UrlPart, struct_to_dict
from agentmesh.runtime.agent import Agent
from agentmesh.runtime.invocation import deadline_in, invoke


@dataclass(frozen=True, slots=True)
class SkillResult:
    """What a skill answered: the reply message, its data, text and files, what it streamed, its
    token usage."""

    reply: Message
    usage: TokenUsage
    chunks: tuple[str, ...] = field(default=())
    #: Set when the skill asked a question (`reply`) instead of answering: the answer's JSON
    #: Schema (empty: any answer).
    answer_schema: dict[str, Any] | None = None
    #: The conversation up to and including this reply, for `SkillEnvironment.answer`.
    conversation: tuple[Message, ...] = field(default=())
    #: The reply is a direct message, not a task's result (`Reply(direct=True)`).
    direct: bool = False

    @property
    def asked(self) -> bool:
        return self.answer_schema is not None

    @property
    def data(self) -> dict[str, Any]:
        return self.reply.data

    @property
    def text(self) -> str:
        return self.reply.text

    @property
    def files(self) -> tuple[FilePart, ...]:
        """The reply's files (its raw and url parts), in order, as a run records them."""
        return tuple(part for part in self.reply.parts if isinstance(part, RawPart | UrlPart))


class SkillEnvironment:
    """Calls an agent's skills in-process, as the agent's server would.

    `llm` defaults to the offline provider with the agent's offline composers: what the server
    runs with AGENTMESH_LLM=offline, without reading the environment."""

    def __init__(
        self,
        agent: Agent,
        *,
        llm: LLMProvider | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.agent = agent
        self.llm: LLMProvider = llm if llm is not None else OfflineProvider(agent.composers)
        #: gRPC metadata every call carries, e.g. an idempotency key or a traceparent.
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
        what the handler emits is collected in `chunks`). If it asks a question, `answer` it.

        The request and the reply go through their protobuf form, as on the wire: data that could
        not be sent raises the client's TypeError, a reply that could not be sent the server's, and
        `result.data` is what a caller reads (a whole float comes back as an int)."""
        request = Message.request(
            data if data is not None or text is None else None, text=text, sender="test"
        )
        return await self._call(skill, request, (), stream=stream, timeout=timeout, metadata=metadata)

    async def answer(
        self,
        skill: str,
        asked: SkillResult,
        data: Mapping[str, Any] | None = None,
        *,
        text: str | None = None,
        stream: bool = False,
        timeout: float | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> SkillResult:
        """Answer the question `asked` holds, as the gateway does: the skill is invoked again with
        the answer and the conversation so far."""
        if not asked.asked:
            raise ValueError("that result is an answer, not a question")
        answer = Message.request(data if data is not None or text is None else None, text=text, sender="test")
        return await self._call(
            skill, answer, asked.conversation, stream=stream, timeout=timeout, metadata=metadata
        )

    async def _call(
        self,
        skill: str,
        message: Message,
        history: tuple[Message, ...],
        *,
        stream: bool,
        timeout: float | None,
        metadata: Mapping[str, str] | None,
    ) -> SkillResult:
        request = message.to_proto()
        chunks: list[str] = []

        async def collect(piece: str) -> None:
            chunks.append(piece)

        work = invoke(
            self.agent,
            self.llm,
            skill,
            request,
            deadline=deadline_in(timeout),
            emit=collect if stream else None,
            metadata=_metadata({**self.metadata, **(metadata or {})}),
            history=[turn.to_proto() for turn in history],
        )
        deadline = asyncio.timeout(timeout)
        try:
            async with deadline:
                outcome = await work
        except TimeoutError:
            if not deadline.expired():
                raise  # the handler's own timeout, not the caller's deadline
            raise DeadlineExceeded(f"skill {skill!r} did not answer within {timeout:g}s") from None
        if deadline.expired():
            # The handler swallowed its cancellation and answered anyway; the caller, gone at its
            # deadline, would never see that answer.
            raise DeadlineExceeded(f"skill {skill!r} answered after its {timeout:g}s deadline")
        response = outcome.to_proto()
        reply = Message.from_proto(response.message)
        schema = None
        if response.HasField("input_required"):
            schema = struct_to_dict(response.input_required.answer_schema)
        return SkillResult(
            reply,
            TokenUsage.from_proto(response.usage),
            tuple(chunks),
            answer_schema=schema,
            conversation=(*history, message, reply),
            direct=response.direct,
        )


#: The header names gRPC sends; it refuses any other (upper case included) before the call leaves.
_METADATA_KEY = re.compile(r"[0-9a-z_.-]+")


def _metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The call's metadata; ValueError for a key gRPC would refuse, so a test cannot pass with
    metadata no real caller could send."""
    for key in metadata:
        if not _METADATA_KEY.fullmatch(key):
            raise ValueError(f"gRPC refuses the metadata key {key!r}: use lower-case letters, digits, _ . -")
    return dict(metadata)
