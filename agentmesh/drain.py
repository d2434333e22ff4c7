"""Counting the calls a server must let finish before it stops.

grpc's `server.stop(grace)` waits for every open call, and a health Watch stream
never ends by itself: with a prober or a gateway watching, every shutdown would
take the whole grace period. So the host counts the calls that do work (health
and reflection excluded), waits for those alone, and then stops.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import contextmanager
from typing import Any

import grpc


class InFlight(grpc.aio.ServerInterceptor):
    def __init__(self, untracked_prefixes: Sequence[str]) -> None:
        self._untracked = tuple(untracked_prefixes)
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()
        # Each method's wrapper, next to the handler it wraps: when the same handler comes back
        # (no tracing interceptor making a new one per call), the call reuses its wrapper.
        self._wrapped: dict[str, tuple[grpc.RpcMethodHandler[Any, Any], grpc.RpcMethodHandler[Any, Any]]] = {}

    @property
    def count(self) -> int:
        return self._count

    async def wait_idle(self) -> None:
        await self._idle.wait()

    @contextmanager
    def _tracked(self) -> Any:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method: str = handler_call_details.method
        if handler is None or method.lstrip("/").startswith(self._untracked):
            return handler
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(self._unary(handler.unary_unary), **codec)
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(self._unary(handler.stream_unary), **codec)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(self._streaming(handler.unary_stream), **codec)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(self._streaming(handler.stream_stream), **codec)
        return handler

    def _unary(self, behavior: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        async def tracked(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with self._tracked():
                return await behavior(request, context)

        return tracked

    def _streaming(self, behavior: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        async def tracked(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            with self._tracked():
                result = behavior(request, context)
                if inspect.isasyncgen(result):
                    async for item in result:
                        yield item
                else:  # a handler that writes with context.write() and returns None
                    await result

        return tracked
