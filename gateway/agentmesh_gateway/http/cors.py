"""Cross-origin requests, only when the gateway is told which origins may make them
(--http-cors-origin): a browser page of such an origin may call the HTTP port with its bearer
token and resume event streams (Authorization and Last-Event-ID are allowed headers). Without
origins no CORS header is ever sent, and browsers keep other origins' pages out."""

from __future__ import annotations

from collections.abc import Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

ALLOWED_HEADERS = ("Authorization", "Content-Type", "Last-Event-ID", "traceparent", "tracestate")
EXPOSED_HEADERS = ("Retry-After", "WWW-Authenticate")
#: Seconds a browser may keep a preflight's answer.
PREFLIGHT_MAX_AGE = 600


def with_cors(app: ASGIApp, origins: Sequence[str]) -> ASGIApp:
    """`app`, answering preflights and stamping responses for `origins`; `app` itself if none.

    Outside the bearer check: a preflight carries no token, and must not be refused for it."""
    if not origins:
        return app
    return CORSMiddleware(
        app,
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        allow_headers=list(ALLOWED_HEADERS),
        expose_headers=list(EXPOSED_HEADERS),
        max_age=PREFLIGHT_MAX_AGE,
    )
