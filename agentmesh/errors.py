"""The exceptions agentmesh raises, in one place.

Every error carries the gRPC status code it travels as, an UPPER_SNAKE reason for
`google.rpc.ErrorInfo`, and whether retrying the same call may succeed::

    AgentMeshError
    ├── InvalidInput            INVALID_ARGUMENT, with BadRequest field violations
    ├── NotFound                NOT_FOUND
    ├── Unavailable             UNAVAILABLE (retryable)
    └── ProviderError           the LLM provider failed
        ├── ProviderRateLimited RESOURCE_EXHAUSTED (retryable)
        ├── ProviderUnavailable UNAVAILABLE (retryable): 5xx, connection refused, bad output
        ├── ProviderRejected    INVALID_ARGUMENT: the provider refused the request (4xx)
        └── ProviderAuthError   FAILED_PRECONDITION: missing or wrong API key

Lower-layer errors (HTTP client errors of an LLM SDK, pydantic validation errors)
are translated into these at the boundary where they happen; anything else that
escapes a handler becomes INTERNAL without leaking its text to the caller.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc

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


class Unavailable(AgentMeshError):
    code = grpc.StatusCode.UNAVAILABLE
    reason = "UNAVAILABLE"


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
