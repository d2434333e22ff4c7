"""The TypeScript agent example in README.md, type-checked with the repository's strict settings,
compiled and run as its own process."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
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


def readme_ts_agent() -> str:
    section = README.read_text().split("### In TypeScript", 1)[1]
    match = re.search(r"```typescript\n(.*?)```", section, flags=re.DOTALL)
    assert match, "README's 'In TypeScript' section has no typescript example"
    return match.group(1)


def test_the_typescript_example_is_about_fifteen_lines_of_code() -> None:
    code_lines = [line for line in readme_ts_agent().splitlines() if line.strip()]
    assert len(code_lines) <= 20


@pytest.fixture(scope="module")
def greeter() -> Iterator[Path]:
    # Inside the repository, so that Node resolves @agentmesh/kit and zod as a user's project would.
    project = ROOT / "build" / "readme-ts-agent"
    shutil.rmtree(project, ignore_errors=True)
    (project / "src").mkdir(parents=True)
    (project / "src" / "greeter.ts").write_text(readme_ts_agent())
    (project / "package.json").write_text(json.dumps({"type": "module", "private": True}))
    config = {
        "extends": "../../tsconfig.base.json",
        "compilerOptions": {"rootDir": "src", "outDir": "dist", "composite": False, "declaration": False},
        "include": ["src"],
    }
    (project / "tsconfig.json").write_text(json.dumps(config))
    tsc = ROOT / "node_modules" / ".bin" / "tsc"
    subprocess.run([str(tsc), "-p", str(project)], check=True, timeout=300)
    yield project / "dist" / "greeter.js"
    shutil.rmtree(project, ignore_errors=True)


async def test_the_readme_typescript_agent_serves_and_validates(greeter: Path) -> None:
    process = ServerProcess(["node", str(greeter), "--host", "127.0.0.1", "--port", "0"])
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
