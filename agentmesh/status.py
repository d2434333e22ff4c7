"""Rich gRPC status: agentmesh errors to `google.rpc.Status` and back.

Servers turn an exception into a status with one `ErrorInfo` (and `BadRequest`
for invalid input) through `to_status`; clients read the details of a failed
call with `details_of`. Both sides use the same trailer, grpc-status-details-bin.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from agentmesh.errors import DOMAIN, AgentMeshError, FieldViolation, InvalidInput

log = logging.getLogger("agentmesh.rpc")


def to_status(error: AgentMeshError) -> grpc.Status:
    """The rich status an error travels as."""
    details: list[any_pb2.Any] = []
    info = any_pb2.Any()
    info.Pack(error_details_pb2.ErrorInfo(reason=error.reason, domain=DOMAIN, metadata=error.metadata))
    details.append(info)
    if isinstance(error, InvalidInput) and error.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
                for v in error.violations
            ]
        )
        packed = any_pb2.Any()
        packed.Pack(bad_request)
        details.append(packed)
    code: int = error.code.value[0]
    return rpc_status.to_status(status_pb2.Status(code=code, message=error.message, details=details))


def internal_status() -> grpc.Status:
    """The status of an unexpected failure; its cause stays in the server's log."""
    return to_status(AgentMeshError("internal error; see the server log", reason="INTERNAL"))


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """What a failed call's rich status says."""

    code: grpc.StatusCode
    message: str
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    violations: tuple[FieldViolation, ...] = ()


def details_of(error: grpc.aio.AioRpcError) -> ErrorDetails:
    """Parse the rich status of a failed call."""
    status = _status_proto(error)
    if status is None:
        return ErrorDetails(code=error.code(), message=error.details() or "")
    reason, domain, metadata = "", "", {}
    violations: list[FieldViolation] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            reason, domain, metadata = info.reason, info.domain, dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.extend(FieldViolation(v.field, v.description) for v in bad.field_violations)
    return ErrorDetails(
        code=error.code(),
        message=status.message,
        reason=reason,
        domain=domain,
        metadata=metadata,
        violations=tuple(violations),
    )


def _status_proto(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    trailers = error.trailing_metadata()
    raw = trailers.get("grpc-status-details-bin") if trailers is not None else None
    if not isinstance(raw, bytes):
        return None
    status = status_pb2.Status.FromString(raw)
    return status if status.code != code_pb2.OK else None


class rpc_errors:
    """The one path from an exception in an RPC handler to the status the caller sees.

    agentmesh errors keep their code and reason; cancellation (the caller went away or
    its deadline passed) propagates untouched; anything else is logged with its
    traceback and answered as INTERNAL without leaking its text. It never swallows an
    exception: it either lets it through or replaces it by aborting the call.
    """

    def __init__(self, context: grpc.aio.ServicerContext[Any, Any], method: str) -> None:
        self._context = context
        self._method = method

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc is None or isinstance(exc, grpc.aio.AbortError):
            return
        if isinstance(exc, AgentMeshError):
            level = logging.WARNING if exc.code == grpc.StatusCode.INVALID_ARGUMENT else logging.ERROR
            fields = {
                "method": self._method,
                "code": exc.code.name,
                "reason": exc.reason,
                "error": exc.message,
            }
            log.log(level, "rpc failed", extra=fields)
            await _abort(self._context, to_status(exc))
        elif isinstance(exc, asyncio.CancelledError):
            remaining = self._context.time_remaining()
            cause = (
                "deadline exceeded" if remaining is not None and remaining <= 0 else "cancelled by the caller"
            )
            log.info("rpc cancelled", extra={"method": self._method, "cause": cause})
        elif isinstance(exc, Exception):
            log.error("rpc failed unexpectedly", exc_info=exc, extra={"method": self._method})
            await _abort(self._context, internal_status())


async def _abort(context: grpc.aio.ServicerContext[Any, Any], status: grpc.Status) -> None:
    # abort(), not abort_with_status(): the tracing interceptor records the code only through abort().
    await context.abort(status.code, status.details, status.trailing_metadata)
