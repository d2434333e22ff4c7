"""OIDC/JWT access tokens, verified with PyJWT against the keys of a JWKS file.

The JWKS file is what an identity provider publishes at its `jwks_uri`, fetched by
whoever deploys the gateway (a CronJob, an operator, a mounted ConfigMap): the gateway
never downloads at run time. It is re-read when it changes, so a provider's key
rotation is picked up without a restart; a token signed by a key the file does not
hold yet makes the gateway look at the file again at once.

Checked: the signature (asymmetric algorithms only: never `none`, never HMAC with a
public key), `exp` and `nbf` with a little leeway for clock skew, `iss`, `aud`, and a
`sub`. The principal is `sub`; its role the highest agentmesh role named in the roles
claim (`roles` by default; a dotted path such as `realm_access.roles` for Keycloak).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from agentmesh.errors import PermissionDenied, Unauthenticated
from agentmesh_gateway.auth.principal import Principal, Role
from agentmesh_gateway.auth.reloading import ReloadingFile

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
LEEWAY_S = 30.0


@dataclass(frozen=True, slots=True)
class JWTSettings:
    jwks: Path
    issuer: str
    audience: str
    roles_claim: str = "roles"


def parse_jwks(text: str) -> dict[str, jwt.PyJWK]:
    try:
        keys = jwt.PyJWKSet.from_json(text)
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, ValueError) as exc:
        raise ValueError(f"not a usable JWKS: {exc}") from None
    return {key.key_id: key for key in keys.keys if key.key_id}


class JWTVerifier:
    def __init__(self, settings: JWTSettings) -> None:
        if not settings.issuer or not settings.audience:
            raise ValueError("JWT verification needs an issuer and an audience")
        self._settings = settings
        self._keys = ReloadingFile(settings.jwks, parse_jwks, "JWKS file")

    @staticmethod
    def looks_like(token: str) -> bool:
        return token.count(".") == 2

    def authenticate(self, token: str) -> Principal:
        """The token's principal; Unauthenticated (or PermissionDenied: no role) if it does not verify."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise Unauthenticated("the bearer token is not a valid JWT", reason="INVALID_TOKEN") from None
        key = self._key(str(header.get("kid", "")))
        settings = self._settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name] if key.algorithm_name in ALGORITHMS else list(ALGORITHMS),
                audience=settings.audience,
                issuer=settings.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the bearer token has expired", reason="TOKEN_EXPIRED") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(
                f"the bearer token does not verify: {exc}", reason="INVALID_TOKEN"
            ) from None
        role = _highest_role(_claim(claims, settings.roles_claim))
        if role is None:
            raise PermissionDenied(
                f"the token's {settings.roles_claim} claim names no agentmesh role (viewer, operator, admin)",
                reason="NO_ROLE",
            )
        return Principal(str(claims["sub"]), role)

    def _key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.current().get(kid)
        if key is None:
            key = self._keys.current(force=True).get(kid)  # a rotation the file has just caught up with
        if key is None:
            raise Unauthenticated("the bearer token is signed by an unknown key", reason="INVALID_TOKEN")
        return key


def _claim(claims: dict[str, Any], path: str) -> Any:
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _highest_role(value: Any) -> Role | None:
    names = value.split() if isinstance(value, str) else value if isinstance(value, list) else []
    roles = [role for name in names if isinstance(name, str) and (role := Role.named(name)) is not None]
    return max(roles, default=None)
