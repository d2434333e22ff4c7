"""The README's "HTTP/JSON and server-sent events" curl lines, run as written against a mesh of
the shipped agents: start the research workflow, follow its events to the end, get it, cancel it."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import shutil
import subprocess
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from agentmesh_cli.launch import LocalMesh
from agentmesh_services import AGENTS
from tests.support.readme import example

SECTION = "### HTTP/JSON and server-sent events"


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """The shipped agents behind a gateway with an HTTP port; its base URL."""
    store = tmp_path_factory.mktemp("readme-rest") / "gateway.db"
    local = LocalMesh(
        store, env={**os.environ, "AGENTMESH_LLM": "offline"}, gateway_args=["--http-port", "0"]
    )
    for name in AGENTS:
        local.add_agent(name)
    async with local:
        assert local.gateway is not None
        yield f"http://127.0.0.1:{local.gateway.logged('http listening')[0]['port']}"


async def curl(line: str, mesh: str, run_id: str = "") -> str:
    argv = [arg.replace("localhost:8080", mesh).replace("RUN_ID", run_id) for arg in shlex.split(line)]
    result = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_the_curl_lines_start_follow_get_and_cancel_a_run(mesh: str) -> None:
    start, follow, get, cancel = [
        line for line in example(SECTION, "sh").splitlines() if line.startswith("curl")
    ]
    run = json.loads(await curl(start, mesh))["run"]
    assert run["workflow"]["name"] == "research" and run["state"] == "RUN_STATE_RUNNING"
    events = [
        line for line in (await curl(follow, mesh, run["runId"])).splitlines() if line.startswith("event:")
    ]
    assert events[0] == "event: runStarted" and events[-1] == "event: runCompleted"  # then curl's stream ends
    got = json.loads(await curl(get, mesh, run["runId"]))["run"]
    assert got["state"] == "RUN_STATE_SUCCEEDED" and got["outputs"]["report"].startswith(
        "# Benefits of open source"
    )
    cancelled = json.loads(await curl(cancel, mesh, run["runId"]))["run"]
    assert cancelled["state"] == "RUN_STATE_SUCCEEDED"  # it had ended: cancelling changes nothing
