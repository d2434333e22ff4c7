"""A server stream over HTTP: its opening, its body, its heartbeats and its end.

Opening: the transcoder answers with an HTTP error when the servicer refuses the stream before
it opens (an unknown run, a full gateway, a bad cursor), and with 200 once the stream is open:
its first item came, or the servicer said it is open (initial metadata, which WatchRun sends
once the watch is admitted: the next event may be hours away). `first_item` waits for either.

The body (`EventStream`, an ASGI response): one task reads the servicer's stream and sends each
item as it comes, nothing buffered: a client that reads slowly holds its reader back, and the
event log's bounded queue sees to the rest, as for a gRPC watcher (it falls back to the store).
Another waits for the client to go, and then ends the reader, which ends the watch. Heartbeats
are not on that path: one ticker (`Streams`) sends one to each stream that has been quiet for
the heartbeat's interval. When the gateway stops, every stream ends cleanly; its client resumes
from the last event id it got, on another replica or after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator
from typing import Any

from starlette.types import Receive, Scope, Send

from agentmesh.status import Answered, internal_status
from agentmesh_gateway.http.problems import status_problem
from agentmesh_gateway.rest.context import HttpContext
from agentmesh_gateway.rest.frames import FrameCache, heartbeat, message_frame, problem_frame
from agentmesh_gateway.store.base import EventRecord

log = logging.getLogger("agentmesh.gateway.rest")

#: Seconds without an item after which a heartbeat is sent (proxies close idle streams).
DEFAULT_HEARTBEAT_SECONDS = 15.0
END = object()
#: What a servicer's stream ends with on the context's status.
ANSWERED = (Answered, NotImplementedError)


async def next_item(stream: AsyncGenerator[Any, None]) -> Any:
    """The stream's next item, or END."""
    try:
        return await anext(stream)
    except StopAsyncIteration:
        return END


async def first_item(stream: AsyncGenerator[Any, None], context: HttpContext) -> asyncio.Task[Any]:
    """The task reading the stream's first item, once the stream is open or over: done when the
    item came (or the stream ended or failed), pending when the servicer opened it first."""
    opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    context.on_open = lambda: None if opened.done() else opened.set_result(None)
    first = asyncio.create_task(next_item(stream), name="rest-stream-open")
    try:
        await asyncio.wait({first, opened}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        context.on_open = None
        opened.cancel()
    return first


class Streams:
    """The surface's open streams: their frames' cache, their heartbeats, their end."""

    def __init__(self, heartbeat_seconds: float) -> None:
        self.heartbeat = heartbeat_seconds
        self.cache = FrameCache()
        self.stopping = False
        self._open: set[EventStream] = set()
        self._beats: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.stopping = False
        self._ticker = asyncio.create_task(self._tick(), name="rest-heartbeats")

    async def stop(self) -> None:
        self.stopping = True
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        for stream in list(self._open):
            stream.end()

    def add(self, stream: EventStream) -> None:
        self._open.add(stream)

    def discard(self, stream: EventStream) -> None:
        self._open.discard(stream)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat / 2)
            quiet_since = time.monotonic() - self.heartbeat
            for stream in list(self._open):
                if stream.last_sent <= quiet_since:
                    beat = asyncio.create_task(stream.beat())
                    self._beats.add(beat)  # held until done: the loop keeps only weak references
                    beat.add_done_callback(self._beats.discard)


class EventStream:
    """The 200 response of an open stream, whose first item `first` reads (or has read)."""

    def __init__(
        self,
        streams: Streams,
        stream: AsyncGenerator[Any, None],
        first: asyncio.Task[Any],
        context: HttpContext,
        media_type: str,
    ) -> None:
        self._streams = streams
        self._stream = stream
        self._first = first
        self._context = context
        self._media_type = media_type
        self._lock = asyncio.Lock()  # one send at a time: the reader's frames and the heartbeats
        self._send: Send | None = None
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self.last_sent = time.monotonic()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._send = send
        headers = [
            (b"content-type", self._media_type.encode()),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),  # nginx and the like: pass each event on at once
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        self._reader = asyncio.create_task(self._read(), name="rest-stream")
        gone = asyncio.create_task(_disconnected(receive), name="rest-stream-client")
        self._streams.add(self)
        try:
            await asyncio.wait({self._reader, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._streams.discard(self)
            client_left = gone.done()
            self._reader.cancel()
            gone.cancel()
            await asyncio.gather(self._reader, gone, return_exceptions=True)
            async with self._lock:
                self._closed = True
                if not client_left:  # end the body, so that the client sees the stream end cleanly
                    with contextlib.suppress(OSError):
                        await send({"type": "http.response.body", "body": b"", "more_body": False})

    def end(self) -> None:
        """End the stream now (the gateway stops): its body ends cleanly."""
        if self._reader is not None:
            self._reader.cancel()

    async def beat(self) -> None:
        await self._write(heartbeat(self._media_type))

    async def _read(self) -> None:
        try:
            first = await self._first
            if first is not END:
                await self._write(self._frame(first))
                async for item in self._stream:
                    await self._write(self._frame(item))
        except ANSWERED:
            pass  # the servicer set the call's status on the context
        except Exception:
            log.exception("stream failed")
            self._context.set_status(internal_status())
        finally:
            with contextlib.suppress(RuntimeError):  # already closed, or closing elsewhere
                await self._stream.aclose()
        status = self._context.status
        if status is not None:
            await self._write(problem_frame(status_problem(status), self._media_type))

    def _frame(self, item: Any) -> bytes:
        if isinstance(item, EventRecord):
            return self._streams.cache.frame(item, self._media_type)
        return message_frame(item, self._media_type)

    async def _write(self, frame: bytes) -> None:
        async with self._lock:
            if self._closed or self._send is None:
                return
            await self._send({"type": "http.response.body", "body": frame, "more_body": True})
            self.last_sent = time.monotonic()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
