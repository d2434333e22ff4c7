"""The README's "Speaking A2A and MCP" examples, run as written: the curl lines against a mesh of
the shipped agents, the a2a-sdk client example, and the mesh file of an external A2A agent."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentmesh_cli.launch import LocalMesh
from agentmesh_gateway.config import load_config
from agentmesh_gateway.remote.endpoint import A2AEndpoint
from agentmesh_services import AGENTS
from tests.support.readme import example

SECTION = "## Speaking A2A and MCP"


@pytest_asyncio.fixture(scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The shipped agents behind a gateway with an HTTP port; its base URL."""
    store = tmp_path_factory.mktemp("readme-a2a") / "gateway.db"
    env = {**os.environ, "AGENTMESH_LLM": "offline"}
    local = LocalMesh(store, env=env, gateway_args=["--http-port", "0"])
    for name in AGENTS:
        local.add_agent(name)
    async with local:
        assert local.gateway is not None
        yield f"http://127.0.0.1:{local.gateway.logged('http listening')[0]['port']}"


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_lines_fetch_the_cards(mesh: str) -> None:
    lines = [line.split("#")[0] for line in example(SECTION, "sh").splitlines() if line.startswith("curl")]
    assert len(lines) == 3
    names = []
    for line in lines:
        argv = [arg.replace("localhost:8080", mesh) for arg in shlex.split(line)]
        result = await asyncio.to_thread(
            subprocess.run, argv, capture_output=True, text=True, timeout=30, check=True
        )
        card = json.loads(result.stdout)
        names.append(card["name"])
        assert card["supportedInterfaces"], card
    assert names[1:] == ["research", "writer"]


async def test_the_a2a_sdk_example_runs_the_research_workflow(mesh: str) -> None:
    code = example(SECTION, "python")
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", code],
        env={**os.environ, "AGENTMESH_HTTP": mesh},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "TASK_STATE_WORKING step plan started" in lines
    assert "TASK_STATE_WORKING step revise completed" in lines
    assert lines[-2:] == ["TASK_STATE_COMPLETED ", "# Benefits of open source"]


def test_the_mesh_file_of_an_a2a_agent_loads(tmp_path: Path) -> None:
    yaml = example(SECTION, "yaml")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "weather.token").write_text("s3cret\n")
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "weather-ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "mesh.yaml").write_text(yaml)
    config = load_config(tmp_path / "mesh.yaml")
    [address] = config.agents["weather"]
    assert isinstance(address, A2AEndpoint)
    assert address.token_file == tmp_path / "secrets" / "weather.token"
    assert re.fullmatch(r"https://weather\.example\.com/\.well-known/agent-card\.json", str(address))
