"""The exceptions agentmesh raises, in one place.

Every error carries the gRPC status code it travels as, an UPPER_SNAKE reason for
`google.rpc.ErrorInfo`, and whether retrying the same call may succeed::

    AgentMeshError              any other code, as the server sent it
    ├── InvalidInput            INVALID_ARGUMENT, with BadRequest field violations
    │   └── InvalidWorkflow     a workflow (or workflow file) that does not validate
    ├── NotFound                NOT_FOUND: no such run, workflow or skill (or not the caller's)
    ├── AlreadyExists           ALREADY_EXISTS: a schedule's name, or a workflow version, is taken
    ├── Unauthenticated         UNAUTHENTICATED: no credentials, or ones the server does not accept
    ├── PermissionDenied        PERMISSION_DENIED: a known caller without the role the call needs
    ├── FailedPrecondition      FAILED_PRECONDITION: not now (a step not waiting for an answer, say)
    ├── ResourceExhausted       RESOURCE_EXHAUSTED (retryable): the server is at capacity;
    │                           `.retry_delay` (google.rpc.RetryInfo) says when to try again
    ├── Unavailable             UNAVAILABLE (retryable): the server cannot be reached, or its store
    ├── DeadlineExceeded        DEADLINE_EXCEEDED (retryable)
    ├── ProviderError           the LLM provider failed
    │   ├── ProviderRateLimited RESOURCE_EXHAUSTED (retryable)
    │   ├── ProviderUnavailable UNAVAILABLE (retryable): 5xx, connection refused, bad output
    │   ├── ProviderRejected    INVALID_ARGUMENT: the provider refused the request (4xx)
    │   └── ProviderAuthError   FAILED_PRECONDITION: missing or wrong API key
    └── RunEndedError           a run a client waited for did not succeed (`.run` says how it ended)
        ├── RunFailedError      it failed: `.error` is the step or run error
        └── RunCancelledError   it was cancelled

Servers raise these and send them as a rich status (`agentmesh.status.to_status`);
clients get them back from a failed call (`agentmesh.status.error_from_rpc`), by code
and reason. Lower-layer errors (HTTP client errors of an LLM SDK, pydantic validation
errors) are translated into these at the boundary where they happen; anything else
that escapes a handler becomes INTERNAL without leaking its text to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc

if TYPE_CHECKING:
    from agentmesh.client import Run, RunError

DOMAIN = "agentmesh"

#: Codes a caller may retry by default; every other code is final.
RETRYABLE_CODES = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED}
)


#: How much of a caller's value an error or a log line repeats.
ECHO_LIMIT = 64


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """`value` quoted for an error message or a log line, cut to about `limit` characters.

    Errors name what was wrong (an unknown agent, a run id); repeating a caller's
    value whole would let one request make every error, trailer and log line as big
    as the request itself.
    """
    text = repr(value) if isinstance(value, str) else repr(str(value))
    if len(text) <= limit:
        return text
    return f"{text[: limit - 1]}…' ({len(text) - 2:,} characters)"


@dataclass(frozen=True, slots=True)
class FieldViolation:
    """One invalid field: a dotted path into the input (``trends.0.name``) and what is wrong."""

    field: str
    description: str


class AgentMeshError(Exception):
    """Base of every agentmesh error."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL
    reason: str = "INTERNAL"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
        code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        if code is not None:
            self.code = code
        self.metadata: dict[str, str] = dict(metadata or {})

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES


class InvalidInput(AgentMeshError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "INVALID_INPUT"

    def __init__(
        self,
        message: str,
        violations: Sequence[FieldViolation] = (),
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        self.violations = tuple(violations)

    @classmethod
    def field(cls, field: str, description: str, *, reason: str | None = None) -> InvalidInput:
        return cls(f"{field}: {description}", [FieldViolation(field, description)], reason=reason)


class NotFound(AgentMeshError):
    code = grpc.StatusCode.NOT_FOUND
    reason = "NOT_FOUND"


class AlreadyExists(AgentMeshError):
    code = grpc.StatusCode.ALREADY_EXISTS
    reason = "ALREADY_EXISTS"


class Unauthenticated(AgentMeshError):
    code = grpc.StatusCode.UNAUTHENTICATED
    reason = "UNAUTHENTICATED"


class PermissionDenied(AgentMeshError):
    code = grpc.StatusCode.PERMISSION_DENIED
    reason = "PERMISSION_DENIED"


class FailedPrecondition(AgentMeshError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "FAILED_PRECONDITION"


class ResourceExhausted(AgentMeshError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "RESOURCE_EXHAUSTED"

    def __init__(
        self,
        message: str,
        *,
        retry_delay: float | None = None,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, metadata=metadata)
        #: Seconds the server asks the caller to wait before trying again (RetryInfo).
        self.retry_delay = retry_delay


class InvalidWorkflow(InvalidInput):
    reason = "INVALID_WORKFLOW"


class Unavailable(AgentMeshError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


class DeadlineExceeded(AgentMeshError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED
    reason = "DEADLINE_EXCEEDED"


class RunEndedError(AgentMeshError):
    """A run did not succeed; `run` is how the gateway recorded its end."""

    def __init__(self, message: str, run: Run, *, reason: str, code: grpc.StatusCode) -> None:
        super().__init__(message, reason=reason, code=code)
        self.run = run


class RunFailedError(RunEndedError):
    def __init__(self, run: Run) -> None:
        error = run.error
        assert error is not None, "a failed run records its error"
        where = f" in step {error.step_id}" if error.step_id else ""
        code = (
            grpc.StatusCode[error.code]
            if error.code in grpc.StatusCode.__members__
            else grpc.StatusCode.UNKNOWN
        )
        super().__init__(
            f"run {run.run_id} failed{where}: {error.code}: {error.message}",
            run,
            reason=error.reason or "RUN_FAILED",
            code=code,
        )
        self.error: RunError = error


class RunCancelledError(RunEndedError):
    def __init__(self, run: Run) -> None:
        super().__init__(
            f"run {run.run_id} was cancelled", run, reason="RUN_CANCELLED", code=grpc.StatusCode.CANCELLED
        )


class ProviderError(AgentMeshError):
    """The LLM provider could not produce an answer."""

    code = grpc.StatusCode.UNAVAILABLE
    reason = "LLM_ERROR"


class ProviderRateLimited(ProviderError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    reason = "LLM_RATE_LIMITED"


class ProviderUnavailable(ProviderError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "LLM_UNAVAILABLE"


class ProviderRejected(ProviderError):
    code = grpc.StatusCode.INVALID_ARGUMENT
    reason = "LLM_REQUEST_REJECTED"


class ProviderAuthError(ProviderError):
    code = grpc.StatusCode.FAILED_PRECONDITION
    reason = "LLM_AUTH_FAILED"


def provider_error_for_http_status(
    status: int, message: str, *, provider: str, retry_after: float | None = None
) -> ProviderError:
    """Translate an LLM API's HTTP status into the error that says whether to retry."""
    metadata = {"provider": provider, "http_status": str(status)}
    if retry_after is not None:
        metadata["retry_after_seconds"] = f"{retry_after:g}"
    text = f"{provider} answered HTTP {status}: {message}"
    if status == 429:
        return ProviderRateLimited(text, metadata=metadata)
    if status in (401, 403):
        return ProviderAuthError(text, metadata=metadata)
    if status == 408 or status >= 500:
        return ProviderUnavailable(text, metadata=metadata)
    return ProviderRejected(text, metadata=metadata)
