"""Errors on the HTTP port as problem details (RFC 9457): the HTTP status that matches the gRPC
code (google/rpc/code.proto's table), and the same code, reason and field violations the gRPC
port sends in its status, bounded the same way."""

from __future__ import annotations

import grpc
from starlette.responses import JSONResponse

from agentmesh.errors import DOMAIN, AgentMeshError, ResourceExhausted
from agentmesh.status import (
    MAX_FIELD_PATH_BYTES,
    MAX_FIELD_VIOLATIONS,
    MAX_STATUS_MESSAGE_BYTES,
    MAX_VIOLATION_DESCRIPTION_BYTES,
    bounded_metadata,
    cut,
)

#: google/rpc/code.proto: the HTTP status each gRPC code maps to.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}


def problem_response(error: AgentMeshError) -> JSONResponse:
    status = HTTP_STATUS.get(error.code, 500)
    body: dict[str, object] = {
        "type": "about:blank",
        "title": error.code.name.replace("_", " ").capitalize(),
        "status": status,
        "detail": cut(error.message, MAX_STATUS_MESSAGE_BYTES),
        "code": error.code.name,
        "reason": error.reason,
        "domain": DOMAIN,
    }
    if error.metadata:
        body["metadata"] = bounded_metadata(error.metadata)
    violations = getattr(error, "violations", None)
    if violations:
        body["violations"] = [
            {
                "field": cut(v.field, MAX_FIELD_PATH_BYTES),
                "description": cut(v.description, MAX_VIOLATION_DESCRIPTION_BYTES),
            }
            for v in violations[:MAX_FIELD_VIOLATIONS]
        ]
    headers = {}
    if isinstance(error, ResourceExhausted) and error.retry_delay is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_delay)))
    return JSONResponse(body, status_code=status, headers=headers, media_type="application/problem+json")
