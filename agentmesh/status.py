"""Rich gRPC status: agentmesh errors to `google.rpc.Status` and back.

Servers turn an exception into a status with one `ErrorInfo` (and `BadRequest`
for invalid input) through `to_status`; clients read the details of a failed
call with `details_of`. Both sides use the same trailer, grpc-status-details-bin.

`to_status` bounds what it sends whatever the error holds, because messages and
field violations may repeat a caller's input: a status over grpc's metadata limit
(8 KiB by default) reaches the caller as RESOURCE_EXHAUSTED instead of itself.
The message travels twice (percent-encoded in grpc-message, and inside the
details), the details base64-encoded, so with the limits below the two headers
take at most 1,024 + 4,096 bytes on the wire, leaving room for every other trailer.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from types import TracebackType
from typing import Any, NoReturn

import grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from agentmesh.errors import (
    DOMAIN,
    AgentMeshError,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    InvalidWorkflow,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger("agentmesh.rpc")

#: The message's length as grpc-message carries it: printable ASCII takes a byte a
#: character, anything else 3 bytes for each of its UTF-8 bytes (percent-encoding).
MAX_STATUS_MESSAGE_BYTES = 1024
#: The whole google.rpc.Status in grpc-status-details-bin, before base64 (4,096 after).
MAX_STATUS_DETAILS_BYTES = 3072
#: Field violations sent; one more says how many were left out. Fewer are sent when
#: the details would outgrow MAX_STATUS_DETAILS_BYTES.
MAX_FIELD_VIOLATIONS = 20
#: A violation's field path and description, UTF-8 bytes: long enough for any real
#: path and message, short enough that a dozen typical violations fit the details.
MAX_FIELD_PATH_BYTES = 128
MAX_VIOLATION_DESCRIPTION_BYTES = 256
#: ErrorInfo metadata: entries kept, and each value's UTF-8 bytes. Keys are cut to
#: 64 characters and the reason to 63, the lengths AIP-193 allows them.
MAX_ERROR_METADATA_ENTRIES = 8
MAX_ERROR_METADATA_VALUE_BYTES = 128
_MAX_METADATA_KEY_BYTES = 64
_MAX_REASON_BYTES = 63

_CUT = "…"
# Bytes grpc-message sends as they are; every other byte becomes %XX.
_PLAIN = bytes(b for b in range(0x20, 0x7F) if b != ord("%"))
# Room kept for the violation that counts those left out, and for wrapping BadRequest in Any.
_LEFT_OUT_RESERVE = 64
_BAD_REQUEST_OVERHEAD = 64


def to_status(error: AgentMeshError) -> grpc.Status:
    """The rich status an error travels as, bounded in size whatever the error holds."""
    info = error_details_pb2.ErrorInfo(
        reason=cut(error.reason, _MAX_REASON_BYTES), domain=DOMAIN, metadata=bounded_metadata(error.metadata)
    )
    code: int = error.code.value[0]
    status = status_pb2.Status(code=code, message=_cut_message(error.message))
    status.details.add().Pack(info)
    if isinstance(error, InvalidInput) and error.violations:
        room = MAX_STATUS_DETAILS_BYTES - status.ByteSize() - _BAD_REQUEST_OVERHEAD
        status.details.add().Pack(_bad_request(error.violations, room))
    if isinstance(error, ResourceExhausted) and error.retry_delay is not None:
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromTimedelta(timedelta(seconds=error.retry_delay))
        status.details.add().Pack(retry)
    return rpc_status.to_status(status)


def internal_status() -> grpc.Status:
    """The status of an unexpected failure; its cause stays in the server's log."""
    return to_status(AgentMeshError("internal error; see the server log", reason="INTERNAL"))


def _bad_request(violations: Sequence[FieldViolation], room: int) -> error_details_pb2.BadRequest:
    """The violations that fit in `room` bytes, in order, and one that counts the rest."""
    bad = error_details_pb2.BadRequest()
    room -= _LEFT_OUT_RESERVE
    for violation in violations[:MAX_FIELD_VIOLATIONS]:
        item = error_details_pb2.BadRequest.FieldViolation(
            field=cut(violation.field, MAX_FIELD_PATH_BYTES),
            description=cut(violation.description, MAX_VIOLATION_DESCRIPTION_BYTES),
        )
        cost = item.ByteSize() + 3  # its tag and length (two bytes: it is under 16 KiB)
        if cost > room:
            break
        bad.field_violations.append(item)
        room -= cost
    left_out = len(violations) - len(bad.field_violations)
    if left_out:
        bad.field_violations.add(description=f"{left_out:,} more field violations left out")
    return bad


def bounded_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    items = list(metadata.items())[:MAX_ERROR_METADATA_ENTRIES]
    return {cut(k, _MAX_METADATA_KEY_BYTES): cut(v, MAX_ERROR_METADATA_VALUE_BYTES) for k, v in items}


def cut(text: str, limit: int) -> str:
    """`text` in at most `limit` UTF-8 bytes, ending in … when cut."""
    # errors="replace": a lone surrogate would make protobuf refuse the string, and the error with it.
    raw = text.encode(errors="replace")
    if len(raw) <= limit:
        return raw.decode()
    return raw[: limit - len(_CUT.encode())].decode(errors="ignore") + _CUT


def _cut_message(text: str) -> str:
    """`text` in at most MAX_STATUS_MESSAGE_BYTES as grpc-message sends it, ending in … when cut."""
    # Every character takes at least one byte, so no more than the limit's worth can fit.
    head = text[:MAX_STATUS_MESSAGE_BYTES].encode(errors="replace").decode()
    if len(head) == len(text) and _wire_length(head) <= MAX_STATUS_MESSAGE_BYTES:
        return head
    room = MAX_STATUS_MESSAGE_BYTES - _wire_length(_CUT)
    for end, char in enumerate(head):
        room -= _wire_length(char)
        if room < 0:
            return head[:end] + _CUT
    return head + _CUT


def _wire_length(text: str) -> int:
    raw = text.encode()
    return len(raw) + 2 * len(raw.translate(None, _PLAIN))


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """What a failed call's rich status says."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: tuple[FieldViolation, ...] = ()
    #: google.rpc.RetryInfo's delay, in seconds, when the server sent one.
    retry_delay: float | None = None


def details_of(error: grpc.aio.AioRpcError) -> ErrorDetails:
    """Parse the rich status of a failed call."""
    status = _status_proto(error)
    if status is None:
        return ErrorDetails(code=error.code(), message=error.details() or "")
    reason, domain, metadata = "", "", {}
    violations: list[FieldViolation] = []
    retry_delay: float | None = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            retry_delay = retry.retry_delay.ToTimedelta().total_seconds()
    return ErrorDetails(
        code=error.code(),
        message=status.message,
        reason=reason,
        domain=domain,
        metadata=metadata,
        violations=tuple(violations),
        retry_delay=retry_delay,
    )


def error_from_rpc(error: grpc.aio.AioRpcError) -> AgentMeshError:
    """The agentmesh error a failed call stands for, by its code and reason (see agentmesh.errors)."""
    details = details_of(error)
    message = details.message or details.code.name
    options: dict[str, Any] = {"metadata": details.metadata}
    if details.reason:
        options["reason"] = details.reason
    if details.code == grpc.StatusCode.INVALID_ARGUMENT:
        kind = InvalidWorkflow if details.reason.startswith("INVALID_WORKFLOW") else InvalidInput
        return kind(message, details.violations, **options)
    if details.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return ResourceExhausted(message, retry_delay=details.retry_delay, **options)
    known: dict[grpc.StatusCode, type[AgentMeshError]] = {
        grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
        grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
        grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
        grpc.StatusCode.NOT_FOUND: NotFound,
        grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
        grpc.StatusCode.UNAVAILABLE: Unavailable,
        grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    }
    if details.code in known:
        return known[details.code](message, **options)
    return AgentMeshError(message, code=details.code, **options)


def _status_proto(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    trailers = error.trailing_metadata()
    raw = trailers.get("grpc-status-details-bin") if trailers is not None else None
    if not isinstance(raw, bytes):
        return None
    status = status_pb2.Status.FromString(raw)
    return status if status.code != code_pb2.OK else None


@dataclass(slots=True)
class HostState:
    """What a call's handler may learn about the server running it."""

    stopping: bool = False


#: The state of the host serving the current call, set by the host for each call (its own
#: task) so that several hosts in one process each speak for their own calls.
current_host: ContextVar[HostState | None] = ContextVar("agentmesh_current_host", default=None)


class rpc_errors:
    """The one path from an exception in an RPC handler to the status the caller sees.

    agentmesh errors keep their code and reason; cancellation (the caller went away, its
    deadline passed, or the server is shutting down) propagates untouched; anything else
    is logged with its traceback and answered as INTERNAL without leaking its text. It
    never swallows an exception: it either lets it through or replaces it by ending the
    call with a status (`abort`).
    """

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any], method: str) -> None:
        self._context = context
        self._method = method

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, grpc.aio.AbortError | Answered):
            return
        if isinstance(exc, AgentMeshError):
            status = to_status(exc)
            level = logging.WARNING if exc.code == grpc.StatusCode.INVALID_ARGUMENT else logging.ERROR
            fields = {
                "method": self._method,
                "code": exc.code.name,
                "reason": cut(exc.reason, _MAX_REASON_BYTES),
                "error": status.details,
            }
            log.log(level, "rpc failed", extra=fields)
            abort(self._context, status)
        elif isinstance(exc, asyncio.CancelledError):
            log.info("rpc cancelled", extra={"method": self._method, "cause": self._cancel_cause()})
        elif isinstance(exc, Exception):
            log.error("rpc failed unexpectedly", exc_info=exc, extra={"method": self._method})
            abort(self._context, internal_status())

    def _cancel_cause(self) -> str:
        remaining = self._context.time_remaining()
        if remaining is not None and remaining <= DEADLINE_SLACK_S:
            return "deadline exceeded"
        host = current_host.get()
        # A stopping server cancels the calls still open when its grace runs out.
        if host is not None and host.stopping:
            return "server shutting down"
        return "cancelled by the caller"


#: A client cancels at its own deadline, which the server, having started its clock when the
#: request arrived, reaches a network delay later: a cancellation this close to the server's
#: deadline is the deadline.
DEADLINE_SLACK_S = 0.1


class Answered(Exception):
    """The call's status is set on its context: the host's wrapper (`agentmesh.calls`) ends
    the call with it. Only raised inside a call a ServiceHost serves."""


def abort(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> NoReturn:
    """End the call with `status`: set it on the context, and unwind to the host's wrapper.

    Not grpc's context.abort(): grpc keeps the AbortError it raises on the call's state,
    and its traceback holds the handler's frames, the request among them, in a reference
    cycle that only the cyclic garbage collector frees. Forty refused 5 MB requests kept
    200 MB until it ran. The tracing interceptor records a code set this way as well.
    """
    context.set_code(status.code)
    context.set_details(status.details)
    context.set_trailing_metadata(status.trailing_metadata)
    raise Answered
