"""Test helpers below the typed stubs: raw request bytes, servers hosted in the test's loop, log records."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from agentmesh.server import Service, ServiceHost
from agentmesh.v1 import agent_service_pb2 as pb

INVOKE = "/agentmesh.v1.AgentService/Invoke"
INVOKE_STREAM = "/agentmesh.v1.AgentService/InvokeStream"
GET_AGENT_CARD = "/agentmesh.v1.AgentService/GetAgentCard"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
HEALTH_WATCH = "/grpc.health.v1.Health/Watch"


def raw_unary(channel: grpc.aio.Channel, method: str) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    """`method` taking and answering bytes as they are, whatever they hold."""
    return channel.unary_unary(method, request_serializer=None, response_deserializer=None)


def raw_unary_stream(
    channel: grpc.aio.Channel, method: str
) -> grpc.aio.UnaryStreamMultiCallable[bytes, bytes]:
    return channel.unary_stream(method, request_serializer=None, response_deserializer=None)


async def first_answer(channel: grpc.aio.Channel, method: str, request: bytes, streaming: bool) -> bytes:
    """The (first) response `method` gives to `request`; raises the call's error."""
    if not streaming:
        return await raw_unary(channel, method)(request, timeout=20)
    call = raw_unary_stream(channel, method)(request, timeout=20)
    try:
        async for response in call:
            return response
        return b""
    finally:
        call.cancel()


def nested_invoke_request(levels: int, skill: str = "plan") -> bytes:
    """An InvokeRequest whose data part nests `levels` Structs deep, built without decoding anything.

    Each Struct level is three protobuf levels (Struct, its map entry, Value), so 40 levels
    are past upb's decoding limit of 100 while encoding has no limit at all.
    """
    request = pb.InvokeRequest(skill=skill)
    data = request.message.parts.add().data
    data.fields["topic"].string_value = "nesting"
    for _ in range(levels):
        data = data.fields["deeper"].struct_value
    return request.SerializeToString()


AGENT_SERVICE = pb.DESCRIPTOR.services_by_name["AgentService"].full_name
Context = grpc.aio.ServicerContext[Any, Any]


def agent_service(
    invoke: Callable[[pb.InvokeRequest, Context], Any] | None = None,
    invoke_stream: Callable[[pb.InvokeStreamRequest, Context], Any] | None = None,
) -> Service:
    """AgentService with just the methods a test writes, registered as generated code registers them."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    if invoke is not None:
        handlers["Invoke"] = grpc.unary_unary_rpc_method_handler(
            invoke,
            request_deserializer=pb.InvokeRequest.FromString,
            response_serializer=pb.InvokeResponse.SerializeToString,
        )
    if invoke_stream is not None:
        handlers["InvokeStream"] = grpc.unary_stream_rpc_method_handler(
            invoke_stream,
            request_deserializer=pb.InvokeStreamRequest.FromString,
            response_serializer=pb.InvokeStreamResponse.SerializeToString,
        )

    def register(server: grpc.aio.Server) -> None:
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(AGENT_SERVICE, handlers),))
        server.add_registered_method_handlers(AGENT_SERVICE, handlers)

    return Service(AGENT_SERVICE, register)


@dataclass
class Hosted:
    host: ServiceHost
    channel: grpc.aio.Channel


@asynccontextmanager
async def hosted(services: Sequence[Service], **options: Any) -> AsyncIterator[Hosted]:
    """A ServiceHost serving `services` on a free loopback port in this loop, with a channel to it."""
    host = ServiceHost(services, **options)
    port = await host.start("127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Hosted(host, channel)
    finally:
        await channel.close()
        await host.stop(0.5)


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def log_records(name: str, level: int = logging.INFO) -> Iterator[list[logging.LogRecord]]:
    """The records logger `name` emits at `level` and above while inside."""
    logger = logging.getLogger(name)
    kept = _Kept()
    previous = logger.level
    logger.setLevel(level)
    logger.addHandler(kept)
    try:
        yield kept.records
    finally:
        logger.removeHandler(kept)
        logger.setLevel(previous)
