"""The gateway client: connect, start runs and get handles on them, ask what the gateway knows.

    async with await Client.connect("127.0.0.1:50051") as client:
        handle = await client.start("research", {"topic": "Edge computing"})
        async for event in handle.events():
            ...
        run = await handle.result()

Every call goes through `call`, the one place a failed RPC becomes an agentmesh error
(`agentmesh.errors`), and carries the client's metadata (its bearer token, if any).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc
from google.protobuf import duration_pb2

from agentmesh.channels import message_size_options
from agentmesh.client._events import Event, event_from_proto
from agentmesh.client._handle import RECONNECT_CODES, RunHandle
from agentmesh.client._reports import AgentStatus, Caller, ChatReply, Metrics
from agentmesh.client._runs import Run, RunState
from agentmesh.client._schedules import ScheduleHandle, schedule_message
from agentmesh.errors import Unavailable
from agentmesh.messages import dict_to_struct
from agentmesh.status import error_from_rpc
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh.v1 import workflow_pb2
from agentmesh.workflows import load_workflow

#: Where a client connects when it is told nowhere else.
DEFAULT_TARGET = "127.0.0.1:50051"
#: Seconds a unary call may take unless the caller says otherwise.
DEFAULT_CALL_TIMEOUT = 30.0

WorkflowSource = str | Path | workflow_pb2.Workflow
Request = TypeVar("Request")
Response = TypeVar("Response")


def default_target() -> str:
    """AGENTMESH_GATEWAY if set, else the local default."""
    return os.environ.get("AGENTMESH_GATEWAY") or DEFAULT_TARGET


class Client:
    """A connection to one gateway (`OrchestratorService`). Make it with `Client.connect`."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        target: str,
        *,
        token: str | None = None,
        timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> None:
        self.target = target
        self.channel = channel
        self.stub = pb_grpc.OrchestratorServiceStub(channel)
        self.metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {token}"),) if token else ()
        self.timeout = timeout

    @classmethod
    async def connect(
        cls,
        target: str | None = None,
        *,
        tls: bool | grpc.ChannelCredentials = False,
        token: str | None = None,
        timeout: float = 10.0,
        call_timeout: float = DEFAULT_CALL_TIMEOUT,
    ) -> Client:
        """Connect to the gateway at `target` (default: AGENTMESH_GATEWAY, else 127.0.0.1:50051).

        `tls=True` uses the system's roots, or pass your own `grpc.ssl_channel_credentials`;
        `token` is sent as a bearer token with every call. Raises Unavailable if the gateway
        cannot be reached within `timeout` seconds.
        """
        target = target or default_target()
        options = message_size_options()
        if tls:
            credentials = grpc.ssl_channel_credentials() if tls is True else tls
            channel = grpc.aio.secure_channel(target, credentials, options=options)
        else:
            channel = grpc.aio.insecure_channel(target, options=options)
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            await channel.close()
            raise Unavailable(f"cannot reach the gateway at {target} within {timeout:g}s") from None
        return cls(channel, target, token=token, timeout=call_timeout)

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def call(self, method: Callable[..., Awaitable[Response]], request: Any) -> Response:
        """One unary call with the client's metadata and timeout; a failure as an agentmesh error."""
        try:
            return await method(request, metadata=self.metadata, timeout=self.timeout)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None

    # --- runs ------------------------------------------------------------------------------

    async def start(
        self,
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None = None,
        *,
        request_id: str = "",
        session_id: str = "",
        shared: Mapping[str, Any] | None = None,
    ) -> RunHandle:
        """Start a run of a registered workflow (by name), a workflow file (a Path) or a Workflow.

        A `request_id` makes the start idempotent: the same id again gives the first run's handle.
        """
        request = self._start_request(
            workflow, inputs, request_id=request_id, session_id=session_id, shared=shared
        )
        response = await self.call(self.stub.StartRun, request)
        return RunHandle(self, response.run.run_id)

    @staticmethod
    def _start_request(
        workflow: WorkflowSource,
        inputs: Mapping[str, Any] | None,
        *,
        request_id: str = "",
        session_id: str = "",
        shared: Mapping[str, Any] | None = None,
    ) -> pb.StartRunRequest:
        request = pb.StartRunRequest(inputs=dict_to_struct(inputs or {}), request_id=request_id)
        if isinstance(workflow, str):
            request.workflow_name = workflow
        else:
            request.workflow.CopyFrom(load_workflow(workflow) if isinstance(workflow, Path) else workflow)
        request.context.session_id = session_id
        if shared:
            request.context.shared.CopyFrom(dict_to_struct(shared))
        return request

    async def run(
        self, workflow: WorkflowSource, inputs: Mapping[str, Any] | None = None, **options: Any
    ) -> Run:
        """Start a run and wait for its end: the run, or RunFailedError / RunCancelledError."""
        handle = await self.start(workflow, inputs, **options)
        return await handle.result()

    async def stream(
        self, workflow: WorkflowSource, inputs: Mapping[str, Any] | None = None, **options: Any
    ) -> AsyncGenerator[Event, None]:
        """Start a run and follow it from its first event, in one call (RunWorkflow).

        Nothing is read back from the store, so the first event arrives as soon as the run
        exists. If the stream breaks, it goes on as `RunHandle.events` does, after the last
        event seen.
        """
        # The two requests share their fields, number for number.
        start = self._start_request(workflow, inputs, **options)
        request = pb.RunWorkflowRequest.FromString(start.SerializeToString())
        last: Event | None = None
        try:
            async for response in self.stub.RunWorkflow(request, metadata=self.metadata):
                last = event_from_proto(response.event)
                yield last
                if last.final:
                    return
        except grpc.aio.AioRpcError as exc:
            if last is None or exc.code() not in RECONNECT_CODES:
                raise error_from_rpc(exc) from None
        if last is not None and not last.final:
            async for event in self.handle(last.run_id).events(last.sequence):
                yield event

    def handle(self, run_id: str) -> RunHandle:
        """A handle on an existing run (not checked until used)."""
        return RunHandle(self, run_id)

    async def get_run(self, run_id: str) -> Run:
        response = await self.call(self.stub.GetRun, pb.GetRunRequest(run_id=run_id))
        return Run.from_proto(response.run)

    async def list_runs(
        self,
        *,
        state: RunState | None = None,
        page_size: int = 50,
        workflow_name: str = "",
        principal: str = "",
        query: str = "",
    ) -> AsyncGenerator[Run, None]:
        """Runs newest first, page after page as the iteration goes: optionally only those in one
        state, of one workflow (its exact name), started by one principal, or whose id starts
        with `query` or whose workflow's name contains it (case-insensitive)."""
        token = ""
        while True:
            request = pb.ListRunsRequest(
                page_size=page_size,
                page_token=token,
                workflow_name=workflow_name,
                principal=principal,
                query=query,
            )
            if state is not None:
                request.state = state.to_proto()
            page = await self.call(self.stub.ListRuns, request)
            for run in page.runs:
                yield Run.from_proto(run)
            token = page.next_page_token
            if not token:
                return

    # --- what the gateway knows -------------------------------------------------------------

    async def validate(self, workflow: Path | workflow_pb2.Workflow) -> list[str]:
        """The workflow's execution order, or InvalidWorkflow naming every problem."""
        loaded = load_workflow(workflow) if isinstance(workflow, Path) else workflow
        response = await self.call(self.stub.ValidateWorkflow, pb.ValidateWorkflowRequest(workflow=loaded))
        return list(response.execution_order)

    async def list_workflows(self) -> list[workflow_pb2.Workflow]:
        return list((await self.call(self.stub.ListWorkflows, pb.ListWorkflowsRequest())).workflows)

    async def apply_workflow(
        self, workflow: Path | workflow_pb2.Workflow
    ) -> tuple[workflow_pb2.Workflow, bool]:
        """Register a version of a workflow: the workflow as registered (its version set, the next
        number if it gave none) and whether it is new (the same definition again is not)."""
        loaded = load_workflow(workflow) if isinstance(workflow, Path) else workflow
        response = await self.call(self.stub.ApplyWorkflow, pb.ApplyWorkflowRequest(workflow=loaded))
        return response.workflow, response.created

    async def get_workflow(self, name: str) -> tuple[workflow_pb2.Workflow, list[pb.WorkflowVersion]]:
        """NAME's latest version (or NAME@VERSION), and every version of it with its runs."""
        response = await self.call(self.stub.GetWorkflow, pb.GetWorkflowRequest(name=name))
        return response.workflow, list(response.versions)

    async def workflow_versions(self) -> list[pb.WorkflowVersion]:
        """Every registered version of every workflow, newest first within a name."""
        return list((await self.call(self.stub.ListWorkflows, pb.ListWorkflowsRequest())).versions)

    # --- schedules -----------------------------------------------------------------------------

    async def create_schedule(
        self,
        name: str,
        workflow: str,
        cron: str,
        inputs: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> ScheduleHandle:
        """Start runs of `workflow` (NAME or NAME@VERSION) on a cron expression's ticks; `options`
        as `schedule_message` takes them (time_zone, overlap, catch_up, catch_up_window, paused)."""
        schedule = schedule_message(name, workflow, cron, inputs, **options)
        await self.call(self.stub.CreateSchedule, pb.CreateScheduleRequest(schedule=schedule))
        return self.schedule(name)

    def schedule(self, name: str) -> ScheduleHandle:
        return ScheduleHandle(self, name)

    async def list_schedules(self, page_size: int = 100) -> AsyncGenerator[pb.Schedule, None]:
        """Every schedule the caller may see, by name, fetched a page at a time."""
        token = ""
        while True:
            request = pb.ListSchedulesRequest(page_size=page_size, page_token=token)
            page = await self.call(self.stub.ListSchedules, request)
            for schedule in page.schedules:
                yield schedule
            token = page.next_page_token
            if not token:
                return

    async def list_agents(self) -> list[AgentStatus]:
        response = await self.call(self.stub.ListAgents, pb.ListAgentsRequest())
        return [AgentStatus.from_proto(agent) for agent in response.agents]

    async def caller(self) -> Caller:
        """Who the gateway takes this client's token to be, and what its role may do."""
        return Caller.from_proto(await self.call(self.stub.GetCaller, pb.GetCallerRequest()))

    async def metrics(self) -> Metrics:
        return Metrics.from_proto((await self.call(self.stub.GetMetrics, pb.GetMetricsRequest())).metrics)

    async def watch_metrics(self, interval: float = 5.0) -> AsyncGenerator[Metrics, None]:
        """The metrics now, then every `interval` seconds, for as long as the iteration goes."""
        every = duration_pb2.Duration()
        every.FromTimedelta(timedelta(seconds=interval))
        try:
            async for response in self.stub.WatchMetrics(
                pb.WatchMetricsRequest(interval=every), metadata=self.metadata
            ):
                yield Metrics.from_proto(response.metrics)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None

    async def chat(self, message: str, session_id: str = "") -> ChatReply:
        """One chat turn; pass the reply's session_id back to continue the conversation."""
        response = await self.call(self.stub.Chat, pb.ChatRequest(message=message, session_id=session_id))
        return ChatReply(response.response, response.session_id, response.tokens_used)

    async def chat_stream(self, message: str, session_id: str = "") -> AsyncGenerator[str | ChatReply, None]:
        """The answer's text as it streams, then the ChatReply (whole text, session, tokens)."""
        request = pb.ChatStreamRequest(message=message, session_id=session_id)
        try:
            async for event in self.stub.ChatStream(
                request, metadata=self.metadata, timeout=self.timeout * 10
            ):
                if event.WhichOneof("event") == "text":
                    yield event.text
                else:
                    result = event.result
                    yield ChatReply(result.response, result.session_id, result.tokens_used)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
