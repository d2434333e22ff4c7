"""AgentService over gRPC: protobuf in, typed dataclasses to the handler, protobuf out."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from pydantic import BaseModel

from agentmesh.llm.base import LLMProvider
from agentmesh.relay import Emit, Finished, relay
from agentmesh.runtime.agent import Agent
from agentmesh.runtime.invocation import deadline_in, invoke
from agentmesh.status import rpc_errors
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc

log = logging.getLogger("agentmesh.agent")

ServicerContext = grpc.aio.ServicerContext[Any, Any]


class AgentServicer(pb_grpc.AgentServiceServicer):
    def __init__(self, agent: Agent, llm: LLMProvider) -> None:
        self._agent = agent
        self._llm = llm

    async def Invoke(self, request: pb.InvokeRequest, context: ServicerContext) -> pb.InvokeResponse:
        with caller_trace(context):
            async with rpc_errors(context, "Invoke"):
                return await self._run(request, context, emit=None)

    async def InvokeStream(
        self, request: pb.InvokeStreamRequest, context: ServicerContext
    ) -> AsyncIterator[pb.InvokeStreamResponse]:
        # An async generator, not context.write(): the tracing interceptor breaks the latter.
        with caller_trace(context):
            async with rpc_errors(context, "InvokeStream"):
                index = 0
                async for item in relay(lambda emit: self._run(request, context, emit=emit)):
                    if isinstance(item, Finished):
                        yield pb.InvokeStreamResponse(result=item.value)
                    else:
                        yield pb.InvokeStreamResponse(chunk=pb.OutputChunk(index=index, text=item))
                        index += 1

    async def GetAgentCard(
        self, request: pb.GetAgentCardRequest, context: ServicerContext
    ) -> pb.GetAgentCardResponse:
        async with rpc_errors(context, "GetAgentCard"):
            return pb.GetAgentCardResponse(card=agent_card(self._agent, self._llm.name))

    async def _run(
        self,
        request: pb.InvokeRequest | pb.InvokeStreamRequest,
        context: ServicerContext,
        emit: Emit | None,
    ) -> pb.InvokeResponse:
        started = time.perf_counter()
        outcome = await invoke(
            self._agent,
            self._llm,
            request.skill,
            request.message,
            deadline=deadline_in(context.time_remaining()),
            emit=emit,
            metadata={k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)},
            history=request.history,
        )
        elapsed_ms = (time.perf_counter() - started) * 1000
        log.debug("invoked", extra={"skill": outcome.skill.id, "duration_ms": round(elapsed_ms, 2)})
        return outcome.to_proto()


@contextmanager
def caller_trace(context: ServicerContext) -> Iterator[None]:
    """Without a server span (tracing off), the caller's traceparent is made current for the call,
    so that every log line the call writes carries the run's trace and the step's span ids."""
    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    parent = next((v for k, v in (context.invocation_metadata() or ()) if k == "traceparent"), None)
    if not isinstance(parent, str):
        yield
        return
    token = otel_context.attach(propagate.extract({"traceparent": parent}))
    try:
        yield
    finally:
        otel_context.detach(token)


def agent_card(agent: Agent, provider: str) -> pb.AgentCard:
    card = pb.AgentCard(
        name=agent.name,
        description=agent.description,
        version=agent.version,
        streaming=any(s.streams for s in agent.skills),
        llm_provider=provider,
    )
    for skill in agent.skills:
        proto = card.skills.add(
            id=skill.id,
            name=skill.name,
            description=skill.description,
            tags=skill.tags,
            streaming=skill.streams,
            asks_for_input=skill.asks_for_input,
            direct_replies=skill.direct_replies,
        )
        proto.input_schema.update(_schema(skill.input_model))
        for example in skill.examples:
            proto.input_examples.add().update(example)
        if skill.output_model is not None:
            proto.output_schema.update(_schema(skill.output_model))
    return card


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()
