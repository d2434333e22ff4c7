"""How the mesh file names an A2A agent: the URL of its card, and what it takes to reach it.

    agents:
      weather:
        a2a: https://weather.example.com/.well-known/agent-card.json   # or the card's base URL
        token_file: secrets/weather.token     # optional: sent as `Authorization: Bearer ...`
        tls_ca: certs/weather-ca.pem          # optional: trust this CA (HTTPS and gRPC over TLS)

An agent's addresses are a list of strings everywhere else in the gateway (and in `agentmesh
up`, which passes them on as `--agent NAME=ADDRESS`): an A2A agent's single address is its card
URL, as an `A2AEndpoint`, a string that also carries the token and CA files. A plain `http://` or
`https://` address (from `--agent`) is an A2A agent too, reached without either.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

#: Where an A2A agent serves its card, under its base URL.
CARD_PATH = "/.well-known/agent-card.json"
_SCHEMES = ("http://", "https://")


def is_a2a_address(address: str) -> bool:
    """Whether an agent address is an A2A agent's card (an HTTP URL), not a gRPC target."""
    return address.startswith(_SCHEMES)


def card_url(url: str) -> str:
    """The card's URL, given it or the agent's base URL; ValueError if it is no HTTP(S) URL."""
    if not is_a2a_address(url) or not urlsplit(url).hostname:
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    if urlsplit(url).path.endswith(".json"):
        return url
    return url.rstrip("/") + CARD_PATH


class A2AEndpoint(str):
    """An A2A agent's card URL, carrying the files to reach it with."""

    token_file: Path | None
    tls_ca: Path | None

    def __new__(cls, url: str, *, token_file: Path | None = None, tls_ca: Path | None = None) -> A2AEndpoint:
        endpoint = super().__new__(cls, card_url(url))
        endpoint.token_file = token_file
        endpoint.tls_ca = tls_ca
        return endpoint

    @classmethod
    def of(cls, address: str) -> A2AEndpoint:
        """`address` as an endpoint: itself if it is one, else a card URL with no files."""
        return address if isinstance(address, A2AEndpoint) else cls(address)
