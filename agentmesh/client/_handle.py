"""A handle on one run: follow its events across dropped streams and gateway restarts, await its end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Mapping
from typing import TYPE_CHECKING, Any

import grpc

from agentmesh.client._events import Event, event_from_proto
from agentmesh.client._runs import Run, RunState
from agentmesh.errors import RunCancelledError, RunFailedError
from agentmesh.messages import Message
from agentmesh.status import error_from_rpc
from agentmesh.v1 import orchestrator_service_pb2 as pb

if TYPE_CHECKING:
    from agentmesh.client._client import Client

#: A stream that fails with these is followed again from the last event seen: the connection
#: dropped, or the gateway restarted (its streams end CANCELLED or UNAVAILABLE as it stops).
RECONNECT_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED})
RECONNECT_MIN, RECONNECT_MAX = 0.1, 2.0


class RunHandle:
    """One run, by id. Cheap to make: `Client.handle(run_id)` asks the gateway nothing."""

    def __init__(self, client: Client, run_id: str) -> None:
        self._client = client
        self.run_id = run_id

    def __repr__(self) -> str:
        return f"RunHandle({self.run_id!r})"

    async def events(self, after: int = 0, *, reconnect_for: float = 60.0) -> AsyncGenerator[Event, None]:
        """The run's events after sequence `after`, in order, each once; ends after the final one.

        Recorded events come first, then live ones. When the stream breaks (a dropped
        connection, a gateway restart) it is opened again after the last event seen,
        with backoff, for up to `reconnect_for` seconds without an event; then the
        failure is raised (as `Unavailable`).
        """
        last = after
        failing_since: float | None = None
        pause = RECONNECT_MIN
        while True:
            request = pb.WatchRunRequest(run_id=self.run_id, after_sequence=last)
            try:
                async for response in self._client.stub.WatchRun(request, metadata=self._client.metadata):
                    event = event_from_proto(response.event)
                    if event.sequence <= last:
                        continue  # already delivered before a reconnect
                    last, failing_since, pause = event.sequence, None, RECONNECT_MIN
                    yield event
                    if event.final:
                        return
            except grpc.aio.AioRpcError as exc:
                if exc.code() not in RECONNECT_CODES:
                    raise error_from_rpc(exc) from None
                failing_since = failing_since or time.monotonic()
                if time.monotonic() - failing_since > reconnect_for:
                    raise error_from_rpc(exc) from None
            else:
                # A stream that ends cleanly before a final event: the run may have ended before
                # `after` (nothing is left to send), or the gateway closed it to go away.
                run = await self.get()
                if run.state.finished and last >= run.last_sequence:
                    return
            # The stream ended or broke before the run did: follow it again from `last`.
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_MAX)

    async def result(self) -> Run:
        """Wait for the run to end: the run if it succeeded, else RunFailedError or RunCancelledError."""
        run = await self.get()
        if not run.state.finished:
            # Only the end is needed: follow from what the snapshot already holds.
            async for _ in self.events(run.last_sequence):
                pass
            run = await self.get()  # the snapshot is written together with the final event
        if run.state == RunState.FAILED:
            raise RunFailedError(run)
        if run.state == RunState.CANCELLED:
            raise RunCancelledError(run)
        return run

    async def get(self) -> Run:
        """The run as last recorded."""
        return await self._client.get_run(self.run_id)

    async def respond(
        self,
        step_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        text: str | None = None,
        item: int | None = None,
    ) -> Run:
        """Answer the question step `step_id` (for_each `item`) waits on: `data` is checked
        against its schema (InvalidInput naming each bad field); the run as recorded then."""
        answer = Message.request(data, text=text, sender="client", context_id=self.run_id).to_proto()
        request = pb.ProvideInputRequest(run_id=self.run_id, step_id=step_id, answer=answer)
        if item is not None:
            request.item = item
        response = await self._client.call(self._client.stub.ProvideInput, request)
        return Run.from_proto(response.run)

    async def cancel(self, reason: str = "") -> Run:
        """Cancel the run (its in-flight agent calls at once); idempotent; the run as it ended."""
        request = pb.CancelRunRequest(run_id=self.run_id, reason=reason)
        response = await self._client.call(self._client.stub.CancelRun, request)
        return Run.from_proto(response.run)
