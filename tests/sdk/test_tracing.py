"""OpenTelemetry server spans: one per agent call, none for health, and W3C trace context honoured."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentmesh import health
from agentmesh.client import Client
from agentmesh.messages import Message
from agentmesh.runtime import agent_host
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_cli.process import ServerProcess
from agentmesh_services import load_agent
from tests.support.mesh import Gateway, finished, gateway_process, probe_log, start_probe, step, workflow
from tests.support.samples import SAMPLES

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


async def test_an_exporting_gateway_records_each_step_attempt_as_a_span_of_the_run_s_trace(
    tmp_path: Path,
) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    spans = tmp_path / "spans.json"
    command = gateway_process(tmp_path / "gateway.db", {"probe": [probe.port]}).args
    # The console exporter writes to stdout; the log (and the port) stay on stderr.
    redirected = ["sh", "-c", f'exec "$@" > {shlex.quote(str(spans))}', "sh", *command]
    process = ServerProcess(redirected, {**os.environ, "OTEL_TRACES_EXPORTER": "console"})
    try:
        await process.start()
        await health.wait_serving(f"127.0.0.1:{process.port}")
        async with await Client.connect(f"127.0.0.1:{process.port}") as client:
            gateway = Gateway(process, client)
            flow = workflow(
                {
                    "name": "traced",
                    "steps": [step("a", "echo", {"key": "t-a"}), step("b", "echo", {"key": "t-b"})],
                }
            )
            run, _ = await finished(gateway, await gateway.start_run(flow))
        assert await process.stop() == 0  # the exporter flushes as the gateway exits
    finally:
        await probe.stop()
    decoder = json.JSONDecoder()
    text, exported = spans.read_text(), []
    while text.strip():
        span, end = decoder.raw_decode(text.lstrip())
        exported.append(span)
        text = text.lstrip()[end:]
    steps = {span["name"]: span for span in exported if span["name"].startswith("step ")}
    assert set(steps) == {"step a", "step b"}
    assert {span["context"]["trace_id"] for span in steps.values()} == {f"0x{run.run_id}"}
    assert {span["parent_id"] for span in steps.values()} == {f"0x{run.run_id[16:]}"}
    received = {r["key"]: r["traceparent"] for r in probe_log(tmp_path / "probe.jsonl")}
    assert received["t-a"].split("-")[2] == steps["step a"]["context"]["span_id"].removeprefix("0x")
