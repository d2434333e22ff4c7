"""CORS only where configured: a page of an origin given with --http-cors-origin may call the
HTTP port (its preflight answered, Authorization and Last-Event-ID allowed); without the flag no
CORS header is ever sent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from agentmesh_gateway.config import ConfigError, load_config
from tests.support.mesh import run_cli
from tests.support.rest import RestGateway, rest_gateway

CONSOLE = "https://console.example.com"
PREFLIGHT = {
    "Origin": CONSOLE,
    "Access-Control-Request-Method": "GET",
    "Access-Control-Request-Headers": "authorization, last-event-id",
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def cors(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RestGateway]:
    workdir = tmp_path_factory.mktemp("cors")
    async with rest_gateway(workdir, ["--http-cors-origin", CONSOLE], secured=True) as running:
        yield running


async def test_a_configured_origin_may_call_with_its_token_and_resume_streams(cors: RestGateway) -> None:
    async with httpx.AsyncClient(base_url=cors.url, timeout=30) as http:
        preflight = await http.options("/v1/runs/RUN/events", headers=PREFLIGHT)
        assert preflight.status_code == 200  # answered without a token: a preflight carries none
        assert preflight.headers["access-control-allow-origin"] == CONSOLE
        allowed = preflight.headers["access-control-allow-headers"].lower()
        assert "authorization" in allowed and "last-event-id" in allowed
        token = {"Authorization": f"Bearer {cors.tokens['vera']}"}
        listed = await http.get("/v1/runs", headers={"Origin": CONSOLE, **token})
        assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == CONSOLE
        refused = await http.get("/v1/runs", headers={"Origin": CONSOLE})
        assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == CONSOLE
        assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()
        elsewhere = await http.get("/v1/runs", headers={"Origin": "https://evil.example", **token})
        assert "access-control-allow-origin" not in elsewhere.headers
        foreign = await http.options("/v1/runs", headers={**PREFLIGHT, "Origin": "https://evil.example"})
        assert foreign.status_code == 400 and "access-control-allow-origin" not in foreign.headers
        # A state-changing call from the configured origin goes through, with its operator token.
        operator = {"Authorization": f"Bearer {cors.tokens['olga']}", "Origin": CONSOLE}
        started = await http.post(
            "/v1/runs", json={"workflowName": "slow-greeting", "inputs": {"who": "c"}}, headers=operator
        )
        assert started.status_code == 200


async def test_without_the_flag_no_cors_header_is_sent(rest: RestGateway) -> None:
    async with httpx.AsyncClient(base_url=rest.url, timeout=30) as http:
        preflight = await http.options("/v1/runs", headers=PREFLIGHT)
        assert preflight.status_code == 405 and "access-control-allow-origin" not in preflight.headers
        listed = await http.get("/v1/runs", headers={"Origin": CONSOLE})
        assert listed.status_code == 200 and "access-control-allow-origin" not in listed.headers


def test_origins_come_from_the_mesh_file_and_are_checked(tmp_path: Path) -> None:
    mesh = tmp_path / "mesh.yaml"
    mesh.write_text(
        f"gateway: {{http_port: 8080, http_cors_origins: [{CONSOLE}], http_heartbeat_seconds: 5}}\n"
    )
    config = load_config(mesh)
    assert (config.http_cors_origins, config.http_heartbeat_seconds) == ([CONSOLE], 5.0)
    mesh.write_text("gateway: {http_cors_origins: [console.example.com/app]}\n")
    with pytest.raises(ConfigError, match="is not an origin"):
        load_config(mesh)
    result = run_cli("gateway", "--http-port", "0", "--http-cors-origin", "*", timeout=60)
    assert result.returncode != 0 and "is not an origin" in result.stderr
