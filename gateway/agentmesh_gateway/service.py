"""OrchestratorService over gRPC. Every RPC goes through `rpc_errors`, the one error-mapping path."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc

from agentmesh.errors import InvalidInput
from agentmesh.relay import Finished, relay
from agentmesh.status import rpc_errors
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from agentmesh_gateway.auth import Role, caller_name, current_principal, visible_owner
from agentmesh_gateway.chat import Chat
from agentmesh_gateway.engine import Engine
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store.base import EventRecord, RunFilters
from agentmesh_gateway.tracing import starting_traceparent

Context = grpc.aio.ServicerContext[Any, Any]
StartRequest = pb.StartRunRequest | pb.RunWorkflowRequest


DEFAULT_METRICS_INTERVAL = 5.0
MIN_METRICS_INTERVAL = 0.1


class OrchestratorServicer(pb_grpc.OrchestratorServiceServicer):
    def __init__(
        self, engine: Engine, chat: Chat, *, tenant_isolation: bool = False, authenticated: bool = False
    ) -> None:
        """`tenant_isolation`: a principal sees, watches and cancels only the runs it started
        (admins see every run); another principal's run is answered as not found.
        `authenticated`: the gateway checks tokens (what GetCaller reports)."""
        self._engine = engine
        self._chat = chat
        self._isolated = tenant_isolation
        self._authenticated = authenticated

    def _owner_filter(self) -> str | None:
        """The one owner whose runs the caller may see, or None for every run."""
        return visible_owner(self._isolated)

    async def ValidateWorkflow(
        self, request: pb.ValidateWorkflowRequest, context: Context
    ) -> pb.ValidateWorkflowResponse:
        async with rpc_errors(context, "ValidateWorkflow"):
            return pb.ValidateWorkflowResponse(execution_order=await self._engine.validate(request.workflow))

    async def StartRun(self, request: pb.StartRunRequest, context: Context) -> pb.StartRunResponse:
        async with rpc_errors(context, "StartRun"):
            return pb.StartRunResponse(
                run=await self._engine.start_run(await self._run_request(request, context))
            )

    # The two event streams answer with the event log's records, encoded as responses by
    # `encode_event_response` (see `add_to_server`): the event's bytes are the ones the store
    # holds, serialized once for every watcher; the HTTP surface encodes each record's JSON once.

    async def RunWorkflow(  # type: ignore[override]
        self, request: pb.RunWorkflowRequest, context: Context
    ) -> AsyncIterator[EventRecord]:
        async with rpc_errors(context, "RunWorkflow"):
            async for record in self._engine.run_and_watch(await self._run_request(request, context)):
                yield record

    async def WatchRun(  # type: ignore[override]
        self, request: pb.WatchRunRequest, context: Context
    ) -> AsyncIterator[EventRecord]:
        async with rpc_errors(context, "WatchRun"):
            owner = self._owner_filter()
            # Headers go out once the watch is admitted: the next event may be hours away (a run
            # waiting for input), and the caller learns now that its stream is open, not refused.
            opened = lambda: context.send_initial_metadata(())  # noqa: E731
            async for record in self._engine.watch(
                request.run_id, request.after_sequence, owner, admitted=opened
            ):
                yield record

    async def GetRun(self, request: pb.GetRunRequest, context: Context) -> pb.GetRunResponse:
        async with rpc_errors(context, "GetRun"):
            return pb.GetRunResponse(run=await self._engine.get_run(request.run_id, self._owner_filter()))

    async def ListRuns(self, request: pb.ListRunsRequest, context: Context) -> pb.ListRunsResponse:
        async with rpc_errors(context, "ListRuns"):
            filters = RunFilters(request.workflow_name, request.principal, request.query)
            page = await self._engine.list_runs(
                request.state, request.page_size, request.page_token, self._owner_filter(), filters
            )
            for run in page.runs:
                for step in run.steps:
                    step.ClearField("output")
                    step.ClearField("files")
            return pb.ListRunsResponse(runs=page.runs, next_page_token=page.next_page_token)

    async def CancelRun(self, request: pb.CancelRunRequest, context: Context) -> pb.CancelRunResponse:
        async with rpc_errors(context, "CancelRun"):
            run = await self._engine.cancel_run(request.run_id, request.reason, self._owner_filter())
            return pb.CancelRunResponse(run=run)

    async def ProvideInput(
        self, request: pb.ProvideInputRequest, context: Context
    ) -> pb.ProvideInputResponse:
        async with rpc_errors(context, "ProvideInput"):
            item = request.item if request.HasField("item") else None
            run = await self._engine.provide_input(
                request.run_id, request.step_id, item, request.answer, caller_name(), self._owner_filter()
            )
            return pb.ProvideInputResponse(run=run)

    async def ListAgents(self, request: pb.ListAgentsRequest, context: Context) -> pb.ListAgentsResponse:
        async with rpc_errors(context, "ListAgents"):
            return pb.ListAgentsResponse(agents=self._engine.agents())

    async def ListWorkflows(
        self, request: pb.ListWorkflowsRequest, context: Context
    ) -> pb.ListWorkflowsResponse:
        async with rpc_errors(context, "ListWorkflows"):
            return pb.ListWorkflowsResponse(
                workflows=self._engine.workflows().values(), versions=await self._engine.workflow_versions()
            )

    async def GetMetrics(self, request: pb.GetMetricsRequest, context: Context) -> pb.GetMetricsResponse:
        async with rpc_errors(context, "GetMetrics"):
            return pb.GetMetricsResponse(metrics=await self._engine.metrics())

    async def WatchMetrics(
        self, request: pb.WatchMetricsRequest, context: Context
    ) -> AsyncIterator[pb.WatchMetricsResponse]:
        async with rpc_errors(context, "WatchMetrics"):
            interval = DEFAULT_METRICS_INTERVAL
            if request.HasField("interval"):
                interval = request.interval.ToTimedelta().total_seconds()
                if interval < MIN_METRICS_INTERVAL:
                    raise InvalidInput.field("interval", f"must be at least {MIN_METRICS_INTERVAL}s")
            while True:
                yield pb.WatchMetricsResponse(metrics=await self._engine.metrics())
                await asyncio.sleep(interval)

    async def Chat(self, request: pb.ChatRequest, context: Context) -> pb.ChatResponse:
        async with rpc_errors(context, "Chat"):
            text, session, tokens = await self._chat.answer(
                request.message, request.session_id, caller_name()
            )
            return pb.ChatResponse(response=text, session_id=session, tokens_used=tokens)

    async def ChatStream(
        self, request: pb.ChatStreamRequest, context: Context
    ) -> AsyncIterator[pb.ChatStreamResponse]:
        async with rpc_errors(context, "ChatStream"):
            async for item in relay(
                lambda emit: self._chat.answer(request.message, request.session_id, caller_name(), emit)
            ):
                if isinstance(item, Finished):
                    text, session, tokens = item.value
                    result = pb.ChatResponse(response=text, session_id=session, tokens_used=tokens)
                    yield pb.ChatStreamResponse(result=result)
                else:
                    yield pb.ChatStreamResponse(text=item)

    async def ApplyWorkflow(
        self, request: pb.ApplyWorkflowRequest, context: Context
    ) -> pb.ApplyWorkflowResponse:
        async with rpc_errors(context, "ApplyWorkflow"):
            workflow, created = await self._engine.apply_workflow(request.workflow)
            return pb.ApplyWorkflowResponse(workflow=workflow, created=created)

    async def GetWorkflow(self, request: pb.GetWorkflowRequest, context: Context) -> pb.GetWorkflowResponse:
        async with rpc_errors(context, "GetWorkflow"):
            workflow = await self._engine.resolve_workflow(request.name)
            versions = await self._engine.workflow_versions(workflow.name)
            return pb.GetWorkflowResponse(workflow=workflow, versions=versions)

    async def CreateSchedule(
        self, request: pb.CreateScheduleRequest, context: Context
    ) -> pb.CreateScheduleResponse:
        async with rpc_errors(context, "CreateSchedule"):
            created = await self._engine.schedules.create(request.schedule, caller_name())
            return pb.CreateScheduleResponse(schedule=created)

    async def GetSchedule(self, request: pb.GetScheduleRequest, context: Context) -> pb.GetScheduleResponse:
        async with rpc_errors(context, "GetSchedule"):
            schedule = await self._engine.schedules.get(request.name, self._owner_filter())
            return pb.GetScheduleResponse(schedule=schedule)

    async def ListSchedules(
        self, request: pb.ListSchedulesRequest, context: Context
    ) -> pb.ListSchedulesResponse:
        async with rpc_errors(context, "ListSchedules"):
            schedules, token = await self._engine.schedules.list(
                request.page_size, request.page_token, self._owner_filter()
            )
            return pb.ListSchedulesResponse(schedules=schedules, next_page_token=token)

    async def PauseSchedule(
        self, request: pb.PauseScheduleRequest, context: Context
    ) -> pb.PauseScheduleResponse:
        async with rpc_errors(context, "PauseSchedule"):
            schedule = await self._engine.schedules.pause(request.name, request.reason, self._owner_filter())
            return pb.PauseScheduleResponse(schedule=schedule)

    async def ResumeSchedule(
        self, request: pb.ResumeScheduleRequest, context: Context
    ) -> pb.ResumeScheduleResponse:
        async with rpc_errors(context, "ResumeSchedule"):
            schedule = await self._engine.schedules.resume(request.name, self._owner_filter())
            return pb.ResumeScheduleResponse(schedule=schedule)

    async def TriggerSchedule(
        self, request: pb.TriggerScheduleRequest, context: Context
    ) -> pb.TriggerScheduleResponse:
        async with rpc_errors(context, "TriggerSchedule"):
            run = await self._engine.schedules.trigger(request.name, self._owner_filter())
            return pb.TriggerScheduleResponse(run=run)

    async def DeleteSchedule(
        self, request: pb.DeleteScheduleRequest, context: Context
    ) -> pb.DeleteScheduleResponse:
        async with rpc_errors(context, "DeleteSchedule"):
            await self._engine.schedules.delete(request.name, self._owner_filter())
            return pb.DeleteScheduleResponse()

    async def GetCaller(self, request: pb.GetCallerRequest, context: Context) -> pb.GetCallerResponse:
        async with rpc_errors(context, "GetCaller"):
            principal = current_principal.get()
            role = principal.role if principal is not None else Role.ADMIN  # no tokens: no limits
            return pb.GetCallerResponse(
                principal=caller_name(),
                role=_CALLER_ROLES[role],
                authenticated=self._authenticated,
                tenant_isolation=self._isolated and self._authenticated and role < Role.ADMIN,
            )

    async def _run_request(self, request: StartRequest, context: Context) -> RunRequest:
        source = request.WhichOneof("source")
        if source == "workflow":
            workflow = request.workflow
        elif source == "workflow_name":
            workflow = await self._engine.resolve_workflow(request.workflow_name)
        else:
            raise InvalidInput.field("workflow", "give a workflow or a workflow_name")
        return RunRequest(
            workflow=workflow,
            inputs=request.inputs,
            context=request.context,
            request_id=request.request_id,
            principal=caller_name(),
            traceparent=starting_traceparent(context),
        )


_CALLER_ROLES = {
    Role.VIEWER: pb.CALLER_ROLE_VIEWER,
    Role.OPERATOR: pb.CALLER_ROLE_OPERATOR,
    Role.ADMIN: pb.CALLER_ROLE_ADMIN,
}


def encode_event_response(record: EventRecord) -> bytes:
    """RunWorkflowResponse and WatchRunResponse alike: field 1 (the event), length-delimited."""
    return _EVENT_FIELD_TAG + _varint(len(record.data)) + record.data


_EVENT_FIELD_TAG = bytes([1 << 3 | 2])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


class _Handlers:
    """Collects the handlers the generated registration function would give a server."""

    def __init__(self) -> None:
        self.by_method: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass  # the same handlers arrive below, by method

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.by_method.update(handlers)


def add_to_server(servicer: OrchestratorServicer, server: grpc.aio.Server) -> None:
    """Register the service as generated, except that its event streams encode records as responses."""
    collected = _Handlers()
    pb_grpc.add_OrchestratorServiceServicer_to_server(servicer, collected)  # type: ignore[arg-type]
    handlers = collected.by_method | {
        "RunWorkflow": grpc.unary_stream_rpc_method_handler(
            servicer.RunWorkflow,
            request_deserializer=pb.RunWorkflowRequest.FromString,
            response_serializer=encode_event_response,
        ),
        "WatchRun": grpc.unary_stream_rpc_method_handler(
            servicer.WatchRun,
            request_deserializer=pb.WatchRunRequest.FromString,
            response_serializer=encode_event_response,
        ),
    }
    service = pb.DESCRIPTOR.services_by_name["OrchestratorService"].full_name
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, handlers),))
    server.add_registered_method_handlers(service, handlers)
