"""The Go agent example in README.md, built as its own module and run as its own process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import grpc
import pytest

from agentmesh.health import wait_serving
from agentmesh.messages import Message, struct_to_dict
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_cli.process import ServerProcess
from tests.support import ROOT

README = ROOT / "README.md"


def readme_go_agent() -> str:
    section = README.read_text().split("### In Go", 1)[1]
    match = re.search(r"```go\n(.*?)```", section, flags=re.DOTALL)
    assert match, "README's 'In Go' section has no go example"
    return match.group(1)


def test_the_go_example_is_about_fifteen_lines_of_code() -> None:
    code_lines = [line for line in readme_go_agent().splitlines() if line.strip()]
    assert len(code_lines) <= 20


@pytest.fixture(scope="module")
def greeter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's program in a module of its own, as a user would lay it out, built with go."""
    go = shutil.which("go")
    assert go, "Go is a prerequisite of the test suite (see README)"
    module = tmp_path_factory.mktemp("greeter")
    (module / "main.go").write_text(readme_go_agent())
    (module / "go.mod").write_text(
        "module greeter\n\ngo 1.26.0\n\nrequire agentmesh/kit v0.0.0\n\n"
        f"replace agentmesh/kit => {ROOT / 'kits' / 'go'}\n"
    )
    # The kit's checksums cover the program's dependencies: nothing new is fetched.
    shutil.copy(ROOT / "kits" / "go" / "go.sum", module / "go.sum")
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    subprocess.run([go, "build", "-o", "greeter", "."], cwd=module, env=env, check=True, timeout=600)
    return module / "greeter"


async def test_the_readme_go_agent_serves_and_validates(greeter: Path) -> None:
    process = ServerProcess([str(greeter), "--host", "127.0.0.1", "--port", "0"])
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
            details = details_of(caught.value)
            assert details.code == grpc.StatusCode.INVALID_ARGUMENT
            assert [v.field for v in details.violations] == ["name"]
            card = (await stub.GetAgentCard(pb.GetAgentCardRequest(), timeout=5)).card
            assert (card.name, [s.id for s in card.skills]) == ("greeter", ["greet"])
            assert struct_to_dict(card.skills[0].input_schema)["required"] == ["name"]
    finally:
        assert await process.stop() == 0
