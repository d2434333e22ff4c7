"""The README's "From Python" examples, run as written against a local mesh of the shipped agents."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from agentmesh_cli.launch import LocalMesh
from agentmesh_services import AGENTS
from tests.support import ROOT

README = ROOT / "README.md"


def examples() -> list[str]:
    section = README.read_text().split("## From Python", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


@pytest_asyncio.fixture(scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalMesh]:
    store = tmp_path_factory.mktemp("readme-client") / "gateway.db"
    local = LocalMesh(store, env={**os.environ, "AGENTMESH_LLM": "offline"})
    for name in AGENTS:
        local.add_agent(name)
    async with local:
        yield local


async def test_the_readme_shows_an_async_and_a_sync_example() -> None:
    assert len(examples()) == 2


async def test_the_async_example_runs_as_written(mesh: LocalMesh) -> None:
    result = run_example(examples()[0], mesh)
    assert result.returncode == 0, result.stderr
    assert "plan done in" in result.stdout and "review done in" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "# Benefits of open source"


async def test_the_sync_example_runs_as_written(mesh: LocalMesh) -> None:
    result = run_example(examples()[1], mesh)
    assert result.returncode == 0, result.stderr
    assert "RunState.SUCCEEDED" in result.stdout and "trend-discovery" in result.stdout


def run_example(code: str, mesh: LocalMesh) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AGENTMESH_GATEWAY": mesh.target}
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
