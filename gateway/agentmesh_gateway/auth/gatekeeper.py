"""The gateway's guard: authenticate the bearer token, then check the role the method needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from agentmesh.errors import PermissionDenied, Unauthenticated
from agentmesh_gateway.auth.jwt_tokens import JWTSettings, JWTVerifier
from agentmesh_gateway.auth.principal import (
    METHOD_ROLES,
    OPEN_PREFIXES,
    Principal,
    Role,
    current_principal,
)
from agentmesh_gateway.auth.static_tokens import TOKEN_PREFIX, StaticTokens

_BEARER = "bearer "


@dataclass(frozen=True, slots=True)
class AuthConfig:
    tokens: Path | None = None
    jwt: JWTSettings | None = None
    #: Each principal sees, watches and cancels only the runs it started (admins see all).
    tenant_isolation: bool = False

    @property
    def enabled(self) -> bool:
        return self.tokens is not None or self.jwt is not None


class Gatekeeper:
    """A `Guard` for the gateway's host (see `agentmesh.calls`)."""

    def __init__(self, config: AuthConfig) -> None:
        """Reads the tokens and JWKS files now: a wrong one stops the gateway from starting."""
        self.config = config
        self._tokens = StaticTokens(config.tokens) if config.tokens is not None else None
        self._jwt = JWTVerifier(config.jwt) if config.jwt is not None else None

    def __call__(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if method.startswith(OPEN_PREFIXES):
            return
        principal = self.authenticate(_bearer(context))
        authorize(principal, method)
        current_principal.set(principal)

    def authenticate(self, token: str | None) -> Principal:
        if not token:
            raise Unauthenticated(
                "this gateway needs a bearer token in the `authorization` metadata",
                reason="MISSING_CREDENTIALS",
            )
        if self._tokens is not None and (token.startswith(TOKEN_PREFIX) or self._jwt is None):
            principal = self._tokens.authenticate(token)
            if principal is None:
                raise Unauthenticated(
                    "the bearer token is not one this gateway knows", reason="INVALID_TOKEN"
                )
            return principal
        if self._jwt is not None and JWTVerifier.looks_like(token):
            return self._jwt.authenticate(token)
        raise Unauthenticated("the bearer token is not one this gateway knows", reason="INVALID_TOKEN")


def authorize(principal: Principal, method: str) -> None:
    """PERMISSION_DENIED unless the principal's role may call `method` (a gRPC method path, the
    name every surface gives an operation: an A2A call over JSON-RPC is its A2AService method)."""
    needed = METHOD_ROLES.get(method, Role.ADMIN)
    if not principal.may(needed):
        raise PermissionDenied(
            f"{principal.role.label} may not call {method.rsplit('/', 1)[-1]}; it needs {needed.label}",
            reason="ROLE_REQUIRED",
            metadata={"principal": principal.name, "role": principal.role.label, "required": needed.label},
        )


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer TOKEN` value; None for none or another scheme."""
    if authorization and authorization[: len(_BEARER)].lower() == _BEARER:
        return authorization[len(_BEARER) :].strip()
    return None


def _bearer(context: grpc.aio.ServicerContext[Any, Any]) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization" and isinstance(value, str):
            return bearer_token(value)
    return None
