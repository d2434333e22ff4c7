"""The README's grpcurl examples, run as written against a researcher agent process."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import shutil

import pytest

from tests.conftest import running_agent
from tests.support import ROOT

README = ROOT / "README.md"


def readme_grpcurl_commands(heading: str = "### With grpcurl") -> list[str]:
    section = README.read_text().split(heading, 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, flags=re.DOTALL)
    assert block, "README has no grpcurl block"
    return [c for c in block.group(1).replace("\\\n", " ").splitlines() if c.startswith("grpcurl ")]


async def grpcurl(command: str, port: int, run_id: str = "") -> tuple[int, str]:
    for readme_address in ("localhost:50061", "localhost:50051"):
        command = command.replace(readme_address, f"127.0.0.1:{port}")
    args = shlex.split(command.replace("RUN_ID", run_id))
    process = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    return await process.wait(), output.decode()


@pytest.mark.skipif(
    shutil.which("grpcurl") is None, reason="grpcurl is not installed; `make test` installs it"
)
async def test_the_readme_grpcurl_examples_work_as_written() -> None:
    commands = readme_grpcurl_commands()
    assert len(commands) == 6
    async with running_agent("researcher") as agent:
        results = [await grpcurl(command, agent.process.port) for command in commands]
    codes = [code for code, _ in results]
    listed, described, checked, card, plan, error = (output for _, output in results)
    assert codes[:5] == [0] * 5, results
    assert codes[5] != 0
    assert {"agentmesh.v1.AgentService", "grpc.health.v1.Health"} <= set(listed.split())
    assert "rpc InvokeStream" in described
    # Reflection serves the documented descriptors: the protos' comments come with them.
    assert "AgentService is the contract every agent serves" in described
    assert json.loads(checked) == {"status": "SERVING"}
    assert json.loads(card)["card"]["name"] == "researcher"
    subtopics = json.loads(plan)["message"]["parts"][1]["data"]["subtopics"]
    assert len(subtopics) == 2
    assert "InvalidArgument" in error and "google.rpc.BadRequest" in error and "INVALID_INPUT" in error
    assert '"field": "topic"' in error and '"field": "depth"' in error
