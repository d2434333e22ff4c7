"""The floor: a raw grpc.aio server, bytes in and out: echo, echo after a sleep, server streams."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc

SERVICE = "bench.Echo"
UNARY = f"/{SERVICE}/Unary"
STREAM = f"/{SERVICE}/Stream"
SLEEP = f"/{SERVICE}/Sleep"
TICKS = f"/{SERVICE}/Ticks"


async def unary(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return request


async def sleep(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    """Answer after the number of milliseconds the request holds: the floor of a fan-out."""
    await asyncio.sleep(int(request.decode() or "0") / 1000)
    return request


async def stream(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
    count = int(request.decode() or "0")
    payload = b"x" * 64
    for _ in range(count):
        yield payload


async def ticks(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[bytes]:
    """`count,interval_ms,start_ns`: a message every interval from start, holding its send time.

    Every subscriber given the same start wakes at the same instants, so each tick is a
    burst to all of them at once: the floor of p5's delivery to 1,000 watchers.
    """
    count, interval_ms, start_ns = (int(field) for field in request.decode().split(","))
    for i in range(count):
        delay = (start_ns + i * interval_ms * 1_000_000 - time.time_ns()) / 1e9
        if delay > 0:
            await asyncio.sleep(delay)
        yield str(time.time_ns()).encode()


async def main(port: int) -> None:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Unary": grpc.unary_unary_rpc_method_handler(unary),
            "Stream": grpc.unary_stream_rpc_method_handler(stream),
            "Sleep": grpc.unary_unary_rpc_method_handler(sleep),
            "Ticks": grpc.unary_stream_rpc_method_handler(ticks),
        },
    )
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print(bound, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
