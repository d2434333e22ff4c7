"""The gateway clients in examples/ (Go and Node), run against a local mesh whose agents are
written in Go and TypeScript: each starts trend-analysis, drops its stream mid-run, resumes
from the last sequence it saw and checks that every event arrived once, in order."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from agentmesh_cli.launch import LocalMesh
from tests.support import ROOT

CONTENT_AGENTS = ["trend-scanner", "video-scriptor", "post-scheduler"]


@pytest_asyncio.fixture(scope="module")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalMesh]:
    store = tmp_path_factory.mktemp("examples") / "gateway.db"
    # Some thinking time per step, so that the clients drop their streams while the run goes on.
    env = {**os.environ, "AGENTMESH_LLM": "offline", "AGENTMESH_OFFLINE_LATENCY_MS": "200"}
    local = LocalMesh(store, env=env)
    for name in CONTENT_AGENTS:
        local.add_agent(name)
    async with local:
        yield local


def run_client(argv: list[str], gateway: str) -> subprocess.CompletedProcess[str]:
    args = [*argv, "--gateway", gateway, "--workflow", "trend-analysis", "--input", "topic=robots"]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def build_go_client(into: Path) -> Path:
    go = shutil.which("go")
    assert go, "Go is a prerequisite of the test suite (see README)"
    binary = into / "gateway-client"
    env = {**os.environ, "CGO_ENABLED": "0"}
    command = [go, "build", "-o", str(binary), "./examples/go"]
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=600)
    return binary


async def test_the_go_client_resumes_gap_free(mesh: LocalMesh, tmp_path: Path) -> None:
    binary = await asyncio.to_thread(build_go_client, tmp_path)
    result = await asyncio.to_thread(run_client, [str(binary)], mesh.target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dropped the stream after event 3; resuming" in result.stdout
    assert result.stdout.strip().endswith("gap-free; run RUN_STATE_SUCCEEDED")
    # Each event by its kind's name, as the Node client and the gateway's server-sent events say it.
    kinds = re.findall(r"^ *\d+ (\S+)$", result.stdout, flags=re.MULTILINE)
    assert kinds[0] == "runStarted" and kinds[-1] == "runCompleted", result.stdout
    assert "stepCompleted" in kinds, result.stdout


async def test_the_node_client_resumes_gap_free(mesh: LocalMesh) -> None:
    script = ROOT / "examples" / "node" / "dist" / "main.js"
    assert script.exists(), "`make install` builds the TypeScript packages"
    result = await asyncio.to_thread(run_client, ["node", str(script)], mesh.target)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "dropped the stream after event 3; resuming" in result.stdout
    assert result.stdout.strip().endswith("gap-free; run SUCCEEDED")
