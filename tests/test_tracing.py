"""OpenTelemetry server spans: one per agent call, none for health, and W3C trace context honoured."""

from __future__ import annotations

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentmesh import health
from agentmesh.messages import Message
from agentmesh.runtime import agent_host
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from services import load_agent
from tests.samples import SAMPLES

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_agent_calls_are_traced_and_health_watch_still_works() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    host = agent_host(load_agent("writer"), tracer_provider=provider)
    port = await host.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            statuses = health.watch(channel)
            assert await anext(statuses) == health.SERVING
            await statuses.aclose()
            stub = pb_grpc.AgentServiceStub(channel)
            traceparent = (("traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01"),)
            await stub.GetAgentCard(pb.GetAgentCardRequest(), metadata=traceparent, timeout=5)
            draft = Message.request(SAMPLES["writer"].valid).to_proto()
            events = [
                e async for e in stub.InvokeStream(pb.InvokeStreamRequest(skill="draft", message=draft))
            ]
            assert events[-1].WhichOneof("event") == "result"
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Invoke(pb.InvokeRequest(skill="draft", message=Message.request({}).to_proto()))
    finally:
        await host.stop(1)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert "/agentmesh.v1.AgentService/GetAgentCard" in spans
    assert not [name for name in spans if "grpc.health" in name]
    card_span = spans["/agentmesh.v1.AgentService/GetAgentCard"]
    assert trace.format_trace_id(card_span.context.trace_id) == TRACE_ID
    assert card_span.kind == trace.SpanKind.SERVER
    assert "/agentmesh.v1.AgentService/InvokeStream" in spans
    invalid = spans["/agentmesh.v1.AgentService/Invoke"]
    assert invalid.attributes is not None
    assert invalid.attributes["rpc.grpc.status_code"] == grpc.StatusCode.INVALID_ARGUMENT.value[0]
