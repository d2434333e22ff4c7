"""The engine's errors as A2A's (the spec's table): each binding then sends them its own way,
gRPC status with ErrorInfo, a JSON-RPC error code, or HTTP problem details."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from a2a.utils.errors import (
    A2AError,
    InternalError,
    InvalidParamsError,
    TaskNotFoundError,
    UnsupportedOperationError,
)
from a2a.utils.proto_utils import validate_proto_required_fields
from google.protobuf.message import Message

from agentmesh.errors import AgentMeshError, FailedPrecondition, InvalidInput, NotFound, ResourceExhausted


def to_a2a(error: AgentMeshError) -> A2AError:
    if isinstance(error, NotFound):
        return TaskNotFoundError(error.message, {"reason": error.reason})
    if isinstance(error, InvalidInput):
        errors = [{"field": v.field, "message": v.description} for v in error.violations[:20]]
        return InvalidParamsError(error.message, {"reason": error.reason, "errors": errors})
    if isinstance(error, FailedPrecondition):
        return UnsupportedOperationError(error.message, {"reason": error.reason})
    data: dict[str, object] = {"code": error.code.name, "reason": error.reason}
    if isinstance(error, ResourceExhausted) and error.retry_delay is not None:
        data["retry_delay_seconds"] = error.retry_delay  # A2A has no capacity error of its own
    return InternalError(error.message, data)


@asynccontextmanager
async def a2a_errors(request: Message | None = None) -> AsyncIterator[None]:
    """The engine's errors as A2A's, around the handling of `request`, which is refused first
    (InvalidParams, naming each field) if it lacks a field A2A's proto marks REQUIRED: a
    SendMessage without a message, a message without an id, a role or parts."""
    if request is not None:
        validate_proto_required_fields(request)
    try:
        yield
    except AgentMeshError as exc:
        raise to_a2a(exc) from None
