"""Static API tokens: a file of names, roles and SHA-256 hashes, never the tokens themselves.

    tokens:
      - name: ci-pipeline
        role: operator
        sha256: 5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8

`agentmesh token new --name NAME --role ROLE` makes a token and prints its entry. A
token is 256 random bits, so a plain SHA-256 is as good as a slow password hash here
(a slow hash protects guessable secrets; these are not), and costs a microsecond per call.
The file is re-read when it changes, so a token is added or revoked without a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from pathlib import Path
from typing import Any

import yaml

from agentmesh_gateway.auth.principal import Principal, Role
from agentmesh_gateway.auth.reloading import ReloadingFile

log = logging.getLogger("agentmesh.gateway.auth")

TOKEN_PREFIX = "amt_"  # noqa: S105 - the prefix every token starts with, not a token


class TokenFileError(ValueError):
    """The tokens file cannot be read, or an entry in it is wrong; the message says which."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_tokens(text: str, where: str) -> dict[str, Principal]:
    """The file's entries by hash; raises TokenFileError naming the first wrong entry."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise TokenFileError(f"{where}: not YAML: {exc}") from None
    entries: Any = data.get("tokens", []) if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise TokenFileError(f"{where}: expected `tokens:` with a list of entries")
    found: dict[str, Principal] = {}
    for index, entry in enumerate(entries):
        at = f"{where}: tokens[{index}]"
        if not isinstance(entry, dict):
            raise TokenFileError(f"{at}: expected name, role and sha256")
        name, role, digest = entry.get("name"), Role.named(str(entry.get("role", ""))), entry.get("sha256")
        if not isinstance(name, str) or not name:
            raise TokenFileError(f"{at}: name must be a non-empty string")
        if role is None:
            raise TokenFileError(f"{at}: role must be viewer, operator or admin")
        if (
            not isinstance(digest, str)
            or len(digest) != 64
            or not all(c in "0123456789abcdef" for c in digest)
        ):
            raise TokenFileError(
                f"{at}: sha256 must be 64 lower-case hex digits (the token's hash, not the token)"
            )
        found[digest] = Principal(name, role)
    return found


class StaticTokens:
    def __init__(self, path: Path) -> None:
        self._file = ReloadingFile(path, lambda text: parse_tokens(text, str(path)), "tokens file")

    def authenticate(self, token: str) -> Principal | None:
        digest = token_hash(token)
        for known, principal in self._file.current().items():
            if hmac.compare_digest(known, digest):
                return principal
        return None
