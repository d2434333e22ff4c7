"""The host's own step around every call: it decodes the request, not grpc.

grpc decodes a request before any application code runs, so bytes protobuf cannot
decode (garbage, or a message nested deeper than upb's limit of 100 levels) fail
inside grpc: the caller gets UNKNOWN with a Python exception's text, and the log a
traceback per request. `HostedCalls` registers every unary-request handler taking
raw bytes and decodes them in the wrapped behavior: undecodable bytes are answered
INVALID_ARGUMENT with ErrorInfo reason MALFORMED_REQUEST through `to_status`, and
logged as one warning per method per interval that counts the ones held back.

The same wrapper refuses a request that lacks a field its proto marks REQUIRED
(`agentmesh.required`), before any handler runs, and tells each call which host
serves it (`current_host`), so that a handler cancelled because its server is
stopping can say so. A host's `Guard` (the gateway's authentication) runs first of
all, in the call's own task, before a byte of the request is decoded.

Streaming-request methods (only reflection's, among those agentmesh hosts) decode each
request as it is read, and end the call the same way at the first that does not decode.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, NoReturn, TypeAlias

import grpc
from google.protobuf.message import DecodeError

from agentmesh.errors import AgentMeshError, InvalidInput
from agentmesh.logs import Throttle
from agentmesh.required import check_required, required_fields
from agentmesh.status import Answered, HostState, abort, current_host, to_status

log = logging.getLogger("agentmesh.rpc")

#: At most one "malformed request" warning per method per this many seconds.
MALFORMED_LOG_INTERVAL_SECONDS = 10.0

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"
Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
Behavior: TypeAlias = Callable[..., Any]
#: Decides whether a call may go on, by its method path and context (metadata, peer); raises
#: an AgentMeshError (UNAUTHENTICATED, PERMISSION_DENIED...) to refuse it. Runs in the call's
#: task, so a context variable it sets is seen by the handler.
Guard: TypeAlias = Callable[[str, "grpc.aio.ServicerContext[Any, Any]"], None]


class HostedCalls(grpc.aio.ServerInterceptor):
    """Decodes each unary request inside its handler, and sets `current_host` for the call.

    Meant to be the last interceptor, next to the servicer: the handlers it gets are the
    registered ones, the same objects on every call, so each is wrapped once; and a
    tracing interceptor before it records the code a malformed request is answered with.
    """

    def __init__(
        self,
        state: HostState,
        log_interval: float = MALFORMED_LOG_INTERVAL_SECONDS,
        guard: Guard | None = None,
    ) -> None:
        self._state = state
        self._guard = guard
        self._log_interval = log_interval
        # The wrapper of each method's handler, next to the handler it wraps.
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method: str = handler_call_details.method
        cached = self._wrapped.get(method)
        if cached is not None and cached[0] is handler:
            return cached[1]
        wrapped = self._wrap(method, handler)
        self._wrapped[method] = (handler, wrapped)
        return wrapped

    def _wrap(self, method: str, handler: Handler) -> Handler:
        decode = handler.request_deserializer
        if decode is None:
            return handler
        call = _Call(method, decode, _Malformed(method, decode, self._log_interval), self._state, self._guard)
        # Only the request's decoding changes: what the handler sends back, and how, stays its own.
        codec = {"response_serializer": handler.response_serializer}
        if handler.request_streaming:
            bidi: Behavior | None = handler.stream_stream
            if inspect.isasyncgenfunction(bidi):  # reflection's ServerReflectionInfo
                return grpc.stream_stream_rpc_method_handler(call.bidi(bidi), **codec)
            return handler
        unary: Behavior | None = handler.unary_unary
        streaming: Behavior | None = handler.unary_stream
        if inspect.iscoroutinefunction(unary):
            return grpc.unary_unary_rpc_method_handler(call.unary(unary), **codec)
        if inspect.isasyncgenfunction(streaming):
            return grpc.unary_stream_rpc_method_handler(call.stream(streaming), **codec)
        if inspect.iscoroutinefunction(streaming):  # writes with context.write(), as health's Watch does
            return grpc.unary_stream_rpc_method_handler(call.unary(streaming), **codec)
        return handler  # a synchronous handler: grpc runs it on a thread, and decodes for it


class _Call:
    """The wrappers of one method's behavior: decode the request, or answer MALFORMED_REQUEST."""

    def __init__(
        self,
        method: str,
        decode: Callable[[bytes], Any],
        malformed: _Malformed,
        state: HostState,
        guard: Guard | None,
    ) -> None:
        self._method = method
        self._guard = guard
        self._decode = decode
        self._malformed = malformed
        self._state = state
        # The request type's REQUIRED fields, found once: most requests have none to check.
        descriptor = getattr(getattr(decode, "__self__", None), "DESCRIPTOR", None)
        self._required = required_fields(descriptor) if descriptor is not None else ()

    # Decoding is written out in each wrapper rather than shared: these run on every call.

    def unary(self, behavior: Behavior) -> Callable[[bytes, Context], Awaitable[Any]]:
        decode, malformed, state = self._decode, self._malformed, self._state
        required, method, guard = self._required, self._method, self._guard

        async def decoded(raw: bytes, context: Context) -> Any:
            # Each call runs in its own task, so this reaches this call's handler and nothing else.
            current_host.set(state)
            try:
                if guard is not None:
                    admit(guard, method, context)
                try:
                    request = decode(raw)
                except DecodeError:
                    malformed.reject(raw, context)
                if required:
                    refuse_incomplete(request, method, context)
                return await behavior(request, context)
            except Answered:
                return None  # the status is set: grpc sends it, and no response

        return decoded

    def stream(self, behavior: Behavior) -> Callable[[bytes, Context], AsyncIterator[Any]]:
        decode, malformed, state = self._decode, self._malformed, self._state
        required, method, guard = self._required, self._method, self._guard

        async def decoded(raw: bytes, context: Context) -> AsyncIterator[Any]:
            current_host.set(state)
            try:
                if guard is not None:
                    admit(guard, method, context)
                try:
                    request = decode(raw)
                except DecodeError:
                    malformed.reject(raw, context)
                if required:
                    refuse_incomplete(request, method, context)
                async for response in behavior(request, context):
                    yield response
            except Answered:
                return  # the status is set: grpc ends the stream with it

        return decoded

    def bidi(self, behavior: Behavior) -> Callable[[AsyncIterator[bytes], Context], AsyncIterator[Any]]:
        decode, malformed, state, method, guard = (
            self._decode, self._malformed, self._state, self._method, self._guard
        )  # fmt: skip

        async def decoded(raw_requests: AsyncIterator[bytes], context: Context) -> AsyncIterator[Any]:
            current_host.set(state)

            async def requests() -> AsyncIterator[Any]:
                async for raw in raw_requests:
                    try:
                        yield decode(raw)
                    except DecodeError:
                        malformed.reject(raw, context)

            try:
                if guard is not None:
                    admit(guard, method, context)
                async for response in behavior(requests(), context):
                    yield response
            except Answered:
                return  # the status is set: grpc ends the stream with it

        return decoded


def admit(guard: Guard, method: str, context: Context) -> None:
    """Let the guard decide; a refusal ends the call with the error's status, logged once."""
    try:
        guard(method, context)
    except AgentMeshError as exc:
        status = to_status(exc)
        log.warning("rpc refused", extra={"method": method, "code": status.code.name, "reason": exc.reason})
        abort(context, status)


def refuse_incomplete(request: Any, method: str, context: Context) -> None:
    """End the call INVALID_ARGUMENT if the request lacks a REQUIRED field (see agentmesh.required)."""
    try:
        check_required(request)
    except InvalidInput as exc:
        status = to_status(exc)
        fields = {"method": method, "code": status.code.name, "reason": exc.reason, "error": status.details}
        log.warning("rpc failed", extra=fields)
        abort(context, status)


class _Malformed:
    """One method's answer to requests it cannot decode, and its throttled log line."""

    def __init__(self, method: str, decode: Callable[[bytes], Any], log_interval: float) -> None:
        self._method = method
        descriptor = getattr(getattr(decode, "__self__", None), "DESCRIPTOR", None)
        expected = getattr(descriptor, "full_name", None) or f"a request of {method}"
        error = InvalidInput(
            f"the request is not a valid {expected}: its bytes could not be decoded "
            "(corrupt, or nested more than 100 levels deep)",
            reason="MALFORMED_REQUEST",
            metadata={"method": method},
        )
        # The same answer every time: built once, not once per bad request.
        self._status = to_status(error)
        self._throttle = Throttle(log_interval)

    def reject(self, raw: bytes, context: Context) -> NoReturn:
        held = self._throttle.admit()
        if held is not None:
            fields = {
                "method": self._method,
                "code": self._status.code.name,
                "reason": "MALFORMED_REQUEST",
                "request_bytes": len(raw),
                "peer": context.peer(),
                "suppressed": held,
            }
            log.warning("malformed request", extra=fields)
        abort(context, self._status)
