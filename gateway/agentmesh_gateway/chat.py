"""Chat with the gateway's LLM provider, like the research system's chat endpoint; sessions are stored."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from agentmesh.errors import InvalidInput
from agentmesh.llm import LLMProvider, Prompt, Turn, complete
from agentmesh_gateway.store.base import RunStore

MAX_MESSAGE = 5000
SYSTEM = "You are agentmesh's research assistant: concise, precise, and honest about what you do not know."


class Chat:
    def __init__(self, store: RunStore, llm: LLMProvider) -> None:
        self._store = store
        self._llm = llm

    async def answer(
        self,
        message: str,
        session_id: str,
        principal: str = "",
        emit: Callable[[str], Awaitable[None]] | None = None,
    ) -> tuple[str, str, int]:
        """(response, session id, tokens used); earlier turns of the session are part of the prompt.

        A session belongs to the principal that holds it: the same session id from another
        principal is another session."""
        if not message.strip():
            raise InvalidInput.field("message", "must not be empty")
        if len(message) > MAX_MESSAGE:
            raise InvalidInput.field("message", f"at most {MAX_MESSAGE} characters")
        session = session_id or uuid.uuid4().hex
        key = f"{principal}\n{session}" if principal else session
        history = [
            Turn("user" if role == "user" else "assistant", text)
            for role, text in await self._store.chat_history(key)
        ]
        prompt = Prompt(user=message, system=SYSTEM, task="chat", history=history)
        generation = await complete(self._llm, prompt, emit)
        text, usage = generation.text, generation.usage
        await self._store.append_chat(key, [("user", message), ("assistant", text)])
        return text, session, usage.total_tokens
