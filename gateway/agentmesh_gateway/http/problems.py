"""Errors on the HTTP port as problem details (RFC 9457): the HTTP status that matches the gRPC
code (google/rpc/code.proto's table), and the same code, reason, metadata and field violations
the gRPC port sends in its status.

There is one path: an error becomes the rich `google.rpc.Status` the gRPC port would send
(`agentmesh.status.to_status`, bounded there), and the problem is read from that status. A
surface that calls the gRPC servicer itself (the HTTP/JSON transcoder) hands over the status the
servicer ended the call with; the others hand over the error. Either way the body is bounded as
the gRPC trailers are: at most about 5 KiB whatever the request held.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import grpc
from google.rpc import error_details_pb2, status_pb2
from starlette.responses import Response

from agentmesh.errors import DOMAIN, AgentMeshError
from agentmesh.status import to_status

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
PROBLEM_MEDIA_TYPE = "application/problem+json"
_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem details document, its HTTP status and the headers that go with it."""

    status: int
    body: dict[str, object]
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> bytes:
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode()

    def response(self) -> Response:
        return Response(self.json(), self.status, self.headers, media_type=PROBLEM_MEDIA_TYPE)


def problem_response(error: AgentMeshError) -> Response:
    return error_problem(error).response()


def error_problem(error: AgentMeshError) -> Problem:
    return status_problem(to_status(error))


def status_problem(status: grpc.Status) -> Problem:
    """The problem a gRPC call's status stands for: its code, and the ErrorInfo, BadRequest and
    RetryInfo of its details (grpc-status-details-bin) when it has them."""
    code: grpc.StatusCode = status.code
    rich = status_pb2.Status()
    for key, value in status.trailing_metadata or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            rich.ParseFromString(value)
    http_status = HTTP_STATUS.get(code, 500)
    body: dict[str, object] = {
        "type": "about:blank",
        "title": code.name.replace("_", " ").capitalize(),
        "status": http_status,
        "detail": rich.message or status.details or code.name,
        "code": code.name,
        "reason": code.name,
        "domain": DOMAIN,
    }
    headers: dict[str, str] = {}
    for detail in rich.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            body |= {"reason": info.reason, "domain": info.domain}
            if info.metadata:
                body["metadata"] = dict(info.metadata)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            body["violations"] = [
                {"field": v.field, "description": v.description} for v in bad.field_violations
            ]
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            headers["Retry-After"] = str(max(1, round(retry.retry_delay.ToTimedelta().total_seconds())))
    return Problem(http_status, body, headers)
