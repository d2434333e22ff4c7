"""p8: what TLS and tracing cost on the hot path, next to the plaintext figures of the same run.

The same bench agent and gateway, twice more: once with TLS on every hop (the client to the
gateway, and mutual TLS from the gateway to the agent; certificates from a throwaway CA), and
once exporting every span by OTLP/gRPC to a loopback sink that accepts and discards them (as a
collector would, minus its work). p1 (a chained step) and p3 (one-step runs per second with 64
clients) are measured in each.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import trustme
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from agentmesh.client import Client
from agentmesh_cli.launch import LocalMesh
from agentmesh_cli.process import ServerProcess


class _Sink(trace_service_pb2_grpc.TraceServiceServicer):
    async def Export(self, request: Any, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
        return trace_service_pb2.ExportTraceServiceResponse()


@asynccontextmanager
async def otlp_sink() -> AsyncIterator[str]:
    """An OTLP/gRPC endpoint that takes spans and drops them; yields its URL."""
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_Sink(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.stop(0)


def _mesh(store: Path, env: dict[str, str], agent_args: list[str], gateway_args: list[str],
          credentials: grpc.ChannelCredentials | None) -> LocalMesh:  # fmt: skip
    mesh = LocalMesh(store, env=env, gateway_args=gateway_args, credentials=credentials)
    command = [sys.executable, "-m", "bench.bench_agent", "--host", "127.0.0.1", "--port", "0", *agent_args]
    mesh.add_agent("bench", process=ServerProcess(command, env))
    return mesh


@asynccontextmanager
async def tls_mesh(workdir: Path) -> AsyncIterator[Client]:
    """Bench agent and gateway with TLS everywhere; yields a client of the gateway over TLS."""
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert, key = workdir / "ca.crt", workdir / "tls.crt", workdir / "tls.key"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    leaf.private_key_pem.write_to_path(str(key))
    serve = ["--tls-cert", str(cert), "--tls-key", str(key)]
    credentials = grpc.ssl_channel_credentials(ca_file.read_bytes(), key.read_bytes(), cert.read_bytes())
    mesh = _mesh(
        workdir / "tls.db",
        dict(os.environ),
        [*serve, "--tls-client-ca", str(ca_file)],
        [*serve, "--tls-ca", str(ca_file)],
        credentials,
    )
    async with mesh, await Client.connect(mesh.target, tls=credentials) as client:
        yield client


@asynccontextmanager
async def traced_mesh(workdir: Path) -> AsyncIterator[Client]:
    """Bench agent and gateway exporting every span by OTLP/gRPC, configured by OTEL_* only."""
    async with otlp_sink() as endpoint:
        env = {
            **os.environ,
            "OTEL_TRACES_EXPORTER": "otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        }
        mesh = _mesh(workdir / "traced.db", env, [], [], None)
        async with mesh, await Client.connect(mesh.target) as client:
            yield client


async def each_variant(workdir: Path, measure: Callable[[str, Client], Awaitable[None]]) -> None:
    """Run `measure(variant, client)` against the TLS mesh, then the traced one."""
    with tempfile.TemporaryDirectory(dir=workdir) as tls_dir:
        async with tls_mesh(Path(tls_dir)) as client:
            await measure("tls", client)
    async with traced_mesh(workdir) as client:
        await measure("otlp", client)
