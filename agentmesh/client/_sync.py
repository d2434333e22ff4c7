"""The client for scripts and notebooks: the same methods, blocking.

It runs the async client on an event loop of its own, on a thread, so it works where
a loop is already running (a notebook) as well as where none is (a script).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from agentmesh.client._client import Client, WorkflowSource
from agentmesh.client._events import Event
from agentmesh.client._handle import RunHandle
from agentmesh.client._reports import AgentStatus, ChatReply, Metrics
from agentmesh.client._runs import Run, RunState
from agentmesh.v1 import workflow_pb2

T = TypeVar("T")


class _Loop:
    """An event loop on a daemon thread, and the two ways to use it from another thread."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="agentmesh-client", daemon=True)
        self._thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    def iterate(self, items: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self.run(anext(items))  # type: ignore[arg-type]
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                self.run(aclose())

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


class SyncRunHandle:
    def __init__(self, handle: RunHandle, loop: _Loop) -> None:
        self._handle, self._loop = handle, loop
        self.run_id = handle.run_id

    def events(self, after: int = 0, *, reconnect_for: float = 60.0) -> Iterator[Event]:
        return self._loop.iterate(self._handle.events(after, reconnect_for=reconnect_for))

    def result(self) -> Run:
        return self._loop.run(self._handle.result())

    def get(self) -> Run:
        return self._loop.run(self._handle.get())

    def cancel(self, reason: str = "") -> Run:
        return self._loop.run(self._handle.cancel(reason))

    def respond(
        self,
        step_id: str,
        data: Mapping[str, Any] | None = None,
        *,
        text: str | None = None,
        item: int | None = None,
    ) -> Run:
        return self._loop.run(self._handle.respond(step_id, data, text=text, item=item))


class SyncClient:
    """`Client`, blocking. Make it with `SyncClient.connect(...)` (same options); close it when done."""

    def __init__(self, client: Client, loop: _Loop) -> None:
        self._client, self._loop = client, loop
        self.target = client.target

    @classmethod
    def connect(cls, target: str | None = None, **options: Any) -> SyncClient:
        loop = _Loop()
        try:
            return cls(loop.run(Client.connect(target, **options)), loop)
        except BaseException:
            loop.stop()
            raise

    def close(self) -> None:
        self._loop.run(self._client.close())
        self._loop.stop()

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def start(
        self, workflow: WorkflowSource, inputs: Mapping[str, Any] | None = None, **options: Any
    ) -> SyncRunHandle:
        return SyncRunHandle(self._loop.run(self._client.start(workflow, inputs, **options)), self._loop)

    def run(self, workflow: WorkflowSource, inputs: Mapping[str, Any] | None = None, **options: Any) -> Run:
        return self._loop.run(self._client.run(workflow, inputs, **options))

    def handle(self, run_id: str) -> SyncRunHandle:
        return SyncRunHandle(self._client.handle(run_id), self._loop)

    def get_run(self, run_id: str) -> Run:
        return self._loop.run(self._client.get_run(run_id))

    def list_runs(
        self,
        *,
        state: RunState | None = None,
        page_size: int = 50,
        workflow_name: str = "",
        principal: str = "",
        query: str = "",
    ) -> Iterator[Run]:
        return self._loop.iterate(
            self._client.list_runs(
                state=state,
                page_size=page_size,
                workflow_name=workflow_name,
                principal=principal,
                query=query,
            )
        )

    def validate(self, workflow: Path | workflow_pb2.Workflow) -> list[str]:
        return self._loop.run(self._client.validate(workflow))

    def list_workflows(self) -> list[workflow_pb2.Workflow]:
        return self._loop.run(self._client.list_workflows())

    def list_agents(self) -> list[AgentStatus]:
        return self._loop.run(self._client.list_agents())

    def metrics(self) -> Metrics:
        return self._loop.run(self._client.metrics())

    def watch_metrics(self, interval: float = 5.0) -> Iterator[Metrics]:
        return self._loop.iterate(self._client.watch_metrics(interval))

    def chat(self, message: str, session_id: str = "") -> ChatReply:
        return self._loop.run(self._client.chat(message, session_id))
