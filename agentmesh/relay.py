"""Turning work that emits text as it goes into a stream: the pieces, then the result.

Both streaming RPCs (an agent's InvokeStream, the gateway's ChatStream) run a coroutine
that calls `emit(text)` along the way; the stream must yield each piece as it comes,
then the coroutine's result, and stop the work if the caller leaves early.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
Emit = Callable[[str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Finished(Generic[T]):
    """The work's result; always the last item a relay yields."""

    value: T


async def relay(work: Callable[[Emit], Awaitable[T]]) -> AsyncIterator[str | Finished[T]]:
    """Yield each emitted piece, then Finished(result); errors of the work propagate."""
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    async def emit(text: str) -> None:
        await queue.put(text)

    async def run() -> T:
        try:
            return await work(emit)
        finally:
            queue.put_nowait(None)

    task = asyncio.create_task(run())
    try:
        while (piece := await queue.get()) is not None:
            yield piece
        yield Finished(await task)
    finally:
        # The caller left or its deadline passed while we were yielding: stop the work too.
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
