"""A loopback OTLP receiver, over gRPC and over HTTP (protobuf), that keeps every span it is sent."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    links: tuple[tuple[str, str], ...]
    kind: int


@dataclass
class Receiver:
    protocol: str
    endpoint: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, request: trace_service_pb2.ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope in resource_spans.scope_spans:
                for span in scope.spans:
                    found.append(
                        ReceivedSpan(
                            service=attributes.get("service.name", ""),
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in span.links),
                            kind=span.kind,
                        )
                    )
        with self.lock:
            self.spans += found

    def env(self) -> dict[str, str]:
        """What a process exporting here is given: only the standard variables."""
        return {
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": self.protocol,
            "OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }

    async def wait_for(
        self, count: int, services: set[str], timeout: float = 30, names: frozenset[str] = frozenset()
    ) -> list[ReceivedSpan]:
        """At least `count` spans, from every one of `services`, `names` among them (the spans a
        test needs, which may come last); AssertionError naming what came."""
        spans: list[ReceivedSpan] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    with self.lock:
                        spans = list(self.spans)
                    if (
                        len(spans) >= count
                        and services <= {s.service for s in spans}
                        and names <= {s.name for s in spans}
                    ):
                        return spans
                    await asyncio.sleep(0.1)
        except TimeoutError:
            seen = sorted({(s.service, s.name) for s in spans})
            wanted = f"wanted {count} from {services}"
            raise AssertionError(f"{len(spans)} spans in {timeout:g}s, {wanted}: {seen}") from None


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: Receiver) -> None:
        self._receiver = receiver

    async def Export(self, request: Any, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        self._receiver.take(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@asynccontextmanager
async def otlp_receiver(protocol: str) -> AsyncIterator[Receiver]:
    receiver = Receiver(protocol)
    if protocol == "grpc":
        server = grpc.aio.server()
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_TraceService(receiver), server)  # type: ignore[no-untyped-call]
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        receiver.endpoint = f"http://127.0.0.1:{port}"
        try:
            yield receiver
        finally:
            await server.stop(0)
        return

    class Handler(BaseHTTPRequestHandler):
        def body(self) -> bytes:
            if "chunked" not in self.headers.get("transfer-encoding", "").lower():
                return self.rfile.read(int(self.headers.get("content-length", "0")))
            chunks = []  # Node's exporter streams its body in chunks, as HTTP/1.1 allows
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            self.rfile.readline()
            return b"".join(chunks)

        def do_POST(self) -> None:
            body = self.body()
            if self.path != "/v1/traces" or "protobuf" not in self.headers.get("content-type", ""):
                self.send_response(415)
                self.end_headers()
                return
            receiver.take(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
            reply = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: Any) -> None:
            pass

    http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    receiver.endpoint = f"http://127.0.0.1:{http.server_address[1]}"
    try:
        yield receiver
    finally:
        http.shutdown()
        http.server_close()
