"""The mesh file's security, limits and metrics settings, read as a gateway reads them, and a
gateway started from such a file serving TLS with tokens."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from agentmesh.client import Client
from agentmesh.errors import Unauthenticated
from agentmesh_cli.process import ServerProcess
from agentmesh_gateway.auth.static_tokens import new_token, token_hash
from agentmesh_gateway.config import ConfigError, load_config
from tests.support.certs import authority, credentials, issue

JWT = (
    "    jwt: {jwks: jwks.json, issuer: https://issuer.test/, audience: agentmesh,"
    " roles_claim: realm_access.roles}\n"
)
MESH = """
gateway:
  host: 127.0.0.1
  port: 0
  store: runs.db
  max_runs: 7
  max_watchers: 3
  metrics_port: 0
  tls: {cert: tls/gateway.crt, key: tls/gateway.key, ca: tls/mesh-ca.crt}
  auth:
    tokens: tokens.yaml
JWT    tenant_isolation: true
agents: {}
""".replace("JWT", JWT)


def test_the_settings_are_read_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "mesh.yaml").write_text(MESH)
    config = load_config(tmp_path / "mesh.yaml")
    assert (config.max_runs, config.max_watchers, config.metrics_port) == (7, 3, 0)
    assert config.tls.cert == str(tmp_path / "tls/gateway.crt")
    assert config.tls.ca == str(tmp_path / "tls/mesh-ca.crt")
    assert config.auth.tokens == tmp_path / "tokens.yaml"
    assert config.auth.jwt is not None and config.auth.jwt.roles_claim == "realm_access.roles"
    assert config.auth.jwt.jwks == tmp_path / "jwks.json"
    assert config.auth.tenant_isolation is True


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("key: tls/gateway.key,", "keyfile: tls/gateway.key,"),
            "unknown setting(s) keyfile",
        ),
        (
            ("tenant_isolation: true", "tenant_isolation: yes please"),
            "tenant_isolation must be true or false",
        ),
        (("max_runs: 7", "max_runs: 0"), "max_runs must be a whole number of at least 1"),
        (("audience: agentmesh, ", ""), "gateway.auth.jwt: give audience"),
        (
            ("    tenant_isolation: true", "    tenant_isolation: true\n    oidc: on"),
            "unknown setting(s) oidc",
        ),
    ],
)
def test_a_wrong_setting_is_refused_naming_it(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in MESH
    (tmp_path / "mesh.yaml").write_text(MESH.replace(old, new))
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(tmp_path / "mesh.yaml")


async def test_a_gateway_serves_tls_and_tokens_from_its_mesh_file(tmp_path: Path) -> None:
    (tmp_path / "tls").mkdir()
    ca, ca_file = authority(tmp_path / "tls", "mesh")
    identity = issue(ca, ca_file, tmp_path / "tls", "gateway")
    token = new_token()
    (tmp_path / "tokens.yaml").write_text(
        json.dumps({"tokens": [{"name": "ci", "role": "viewer", "sha256": token_hash(token)}]})
    )
    mesh = MESH.replace(JWT, "")
    (tmp_path / "mesh.yaml").write_text(mesh)
    assert identity.cert == tmp_path / "tls" / "gateway.crt"
    gateway = ServerProcess(
        [sys.executable, "-m", "agentmesh_cli", "gateway", "--config", str(tmp_path / "mesh.yaml")],
        name="gateway",
    )
    await gateway.start()
    try:
        said = gateway.logged("listening")[0]
        assert (said["tls"], said["auth"]) == ("on", "tokens, tenant isolation")
        target = f"127.0.0.1:{gateway.port}"
        async with await Client.connect(target, tls=credentials(ca_file), token=token) as client:
            assert await client.list_agents() == []
        async with await Client.connect(target, tls=credentials(ca_file)) as anonymous:
            with pytest.raises(Unauthenticated):
                await anonymous.list_agents()
        assert gateway.logged("metrics listening")
    finally:
        await gateway.stop()
