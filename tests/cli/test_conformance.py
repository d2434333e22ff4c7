"""The conformance kit: every shipped agent passes it, and a deliberately broken agent fails it
exactly where it is broken."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from agentmesh.health import wait_serving
from agentmesh_cli.conformance import CHECKS
from agentmesh_cli.process import ServerProcess
from agentmesh_services import AGENTS
from tests.conftest import running_agent
from tests.support import ROOT
from tests.support.mesh import run_cli

BROKEN = ROOT / "tests" / "support" / "broken_agent.py"
ASKING = ROOT / "tests" / "support" / "asking_agent.py"


def conformance(address: str) -> tuple[int, dict[str, tuple[bool, str]]]:
    result = run_cli("conformance", address, "--json", env={**os.environ, "COLUMNS": "200"}, timeout=120)
    try:
        checks = json.loads(result.stdout)["checks"]
    except (ValueError, KeyError):
        # Say what the command said instead: a bare JSONDecodeError names nothing.
        said = f"{result.stdout!r} {result.stderr!r}"
        pytest.fail(f"conformance gave no report (exit {result.returncode}): {said}")
    return result.returncode, {c["check"]: (c["ok"], c["detail"]) for c in checks}


@pytest.mark.parametrize("name", list(AGENTS))
async def test_every_shipped_agent_passes(name: str) -> None:
    async with running_agent(name) as agent:
        code, checks = conformance(agent.target)
    assert list(checks) == [check for check, _ in CHECKS]
    assert code == 0, {check: detail for check, (ok, detail) in checks.items() if not ok}


@pytest_asyncio.fixture(scope="module")
async def broken() -> AsyncIterator[str]:
    process = ServerProcess([sys.executable, str(BROKEN)], name="broken")
    port = await process.start()
    await wait_serving(f"127.0.0.1:{port}")
    yield f"127.0.0.1:{port}"
    await process.stop()


async def test_a_broken_agent_fails_where_it_is_broken(broken: str) -> None:
    code, checks = conformance(broken)
    assert code == 1
    failed = {check for check, (ok, _) in checks.items() if not ok}
    assert failed == {
        "health check",
        "health watch",
        "reflection",
        "agent card",
        "invoke examples",
        "invalid input",
        "unknown skill",
        "missing message",
        "short deadline",
        "stream result",
        "multi-turn",
    }, checks
    assert "does not fit its input_schema" in checks["agent card"][1]
    assert "INTERNAL" in checks["invalid input"][1]
    assert "does not say direct_replies" in checks["invoke examples"][1]
    assert "UNKNOWN" in checks["short deadline"][1]
    assert checks["stream result"][1] == "the stream sent 2 result(s), last event result"
    assert "context_id" in checks["multi-turn"][1]


async def test_an_agent_that_asks_passes_the_multi_turn_check() -> None:
    process = ServerProcess([sys.executable, str(ASKING), "--port", "0"], name="asking")
    port = await process.start()
    try:
        await wait_serving(f"127.0.0.1:{port}")
        code, checks = conformance(f"127.0.0.1:{port}")
    finally:
        await process.stop()
    assert code == 0, checks
    assert checks["multi-turn"] == (True, "1 skill(s) asked 1 question(s) and answered in the end")


@pytest.mark.slow
def test_an_address_where_nothing_answers_is_one_line() -> None:
    result = run_cli("conformance", "127.0.0.1:1", timeout=60)
    assert result.returncode == 1
    assert (
        "no agent answers health checks at 127.0.0.1:1" in result.stderr and "Traceback" not in result.stderr
    )
