"""The agent example in README.md, run exactly as written, as its own process."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from agentmesh.health import wait_serving
from agentmesh.messages import Message
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_cli.process import ServerProcess
from tests.support import ROOT

README = ROOT / "README.md"


def readme_agent() -> str:
    section = README.read_text().split("## Write an agent", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, "README's 'Write an agent' section has no python example"
    return match.group(1)


def test_the_example_is_a_dozen_lines_of_code() -> None:
    code_lines = [line for line in readme_agent().splitlines() if line.strip()]
    assert len(code_lines) <= 15


async def test_the_readme_agent_serves_and_validates(tmp_path: Path) -> None:
    script = tmp_path / "greeter.py"
    script.write_text(readme_agent())
    process = ServerProcess([sys.executable, str(script), "--host", "127.0.0.1", "--port", "0"])
    port = await process.start()
    try:
        await wait_serving(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            hello = Message.request({"name": "Ada"})
            response = await stub.Invoke(pb.InvokeRequest(skill="greet", message=hello.to_proto()), timeout=5)
            reply = Message.from_proto(response.message)
            assert reply.text == "Hello, Ada!" and reply.data == {"greeting": "Hello, Ada!"}
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Invoke(pb.InvokeRequest(message=Message.request({}).to_proto()), timeout=5)
            assert [v.field for v in details_of(caught.value).violations] == ["name"]
            card = (await stub.GetAgentCard(pb.GetAgentCardRequest(), timeout=5)).card
            assert (card.name, [s.id for s in card.skills]) == ("greeter", ["greet"])
    finally:
        assert await process.stop() == 0


def test_the_readme_skill_test_runs_as_written(tmp_path: Path) -> None:
    """The README's "Test an agent" example, with the README's agent beside it, under pytest."""
    section = README.read_text().split("### Test an agent", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match
    (tmp_path / "greeter.py").write_text(readme_agent())
    (tmp_path / "test_greeter.py").write_text(match.group(1))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-o",
            "asyncio_mode=auto",
            str(tmp_path),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
