"""The mesh file's A2A agents: the forms it accepts, and the mistakes it names."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentmesh_gateway.config import ConfigError, load_config
from agentmesh_gateway.remote.endpoint import A2AEndpoint


def load(tmp_path: Path, agents: str) -> dict[str, list[str]]:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(f"agents:\n{agents}")
    return load_config(mesh).agents


def test_an_a2a_agent_is_its_card_url_with_its_files(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    agents = load(
        tmp_path,
        "  weather: {a2a: 'https://w.example.com/.well-known/agent-card.json', token_file: t.token,"
        " tls_ca: ca.pem}\n"
        "  base: {a2a: 'http://127.0.0.1:8000/'}\n"
        "  plain: 'https://plain.example.com/agents/card.json'\n"
        "  grpc: 127.0.0.1:50061\n",
    )

    [weather] = agents["weather"]
    assert isinstance(weather, A2AEndpoint)
    assert weather == "https://w.example.com/.well-known/agent-card.json"
    assert (weather.token_file, weather.tls_ca) == (tmp_path / "t.token", tmp_path / "ca.pem")
    assert agents["base"] == ["http://127.0.0.1:8000/.well-known/agent-card.json"]  # the card under the base
    [plain] = agents["plain"]
    assert isinstance(plain, A2AEndpoint) and plain.token_file is None
    assert agents["grpc"] == ["127.0.0.1:50061"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("{a2a: 'https://w.example.com', tokens: x}", "unknown setting(s) tokens"),
        ("{a2a: 'ftp://w.example.com'}", "not an http:// or https:// URL"),
        ("{a2a: 'https://w.example.com', tls_ca: missing.pem}", "missing.pem is not a file"),
        ("['https://a.example.com', 'https://b.example.com']", "one address"),
        ("{a2a: [1]}", "give the URL"),
    ],
)
def test_a_wrong_a2a_agent_is_named(tmp_path: Path, entry: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"agents\.weather") as wrong:
        load(tmp_path, f"  weather: {entry}\n")
    assert message in str(wrong.value)
