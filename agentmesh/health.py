"""Typed client helpers for grpc.health.v1 (the stock stubs are untyped)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from typing import TypeAlias

import grpc
from grpc_health.v1 import health_pb2

Status: TypeAlias = int  # a HealthCheckResponse.ServingStatus value
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


async def check(channel: grpc.aio.Channel, service: str = "", timeout: float = 5.0) -> Status:
    call = channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    response = await call(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
    return response.status


async def watch(channel: grpc.aio.Channel, service: str = "") -> AsyncGenerator[Status]:
    """Each status the server reports for `service`: the current one first, then every change."""
    call = channel.unary_stream(
        "/grpc.health.v1.Health/Watch",
        request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
        response_deserializer=health_pb2.HealthCheckResponse.FromString,
    )
    async for response in call(health_pb2.HealthCheckRequest(service=service)):
        yield response.status


async def wait_serving(
    target: str, service: str = "", timeout: float = 10.0, credentials: grpc.ChannelCredentials | None = None
) -> None:
    """Block until `target` reports SERVING for `service`, reconnecting while it is not up yet
    (over TLS with `credentials`)."""

    def connect() -> grpc.aio.Channel:
        if credentials is None:
            return grpc.aio.insecure_channel(target)
        return grpc.aio.secure_channel(target, credentials)

    async def follow() -> None:
        while True:
            async with connect() as channel:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    async for status in watch(channel, service):
                        if status == SERVING:
                            return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(follow(), timeout)
