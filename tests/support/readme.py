"""The README's examples, taken out of it as written, and the behaviour its greeter agent (in
Python, Go and TypeScript alike) must show when served: the conformance kit passes it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest

from agentmesh.health import wait_serving
from agentmesh.messages import Message, struct_to_dict
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_cli.conformance import CHECKS, check_agent
from agentmesh_cli.process import ServerProcess
from tests.support import ROOT

README = ROOT / "README.md"


def example(heading: str, language: str, readme: Path = README) -> str:
    """The first `language` code block after `heading` in the README (or in another `readme`)."""
    section = readme.read_text().split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)
    assert match, f"{readme.relative_to(ROOT)}'s {heading!r} section has no {language} example"
    return match.group(1)


async def serves_the_greeter(argv: Sequence[str]) -> None:
    """`argv --host 127.0.0.1 --port 0` serves the README's greeter: it greets, names the missing
    field of a bad request, describes itself, passes every check of the conformance kit, and exits
    0 on SIGTERM."""
    process = ServerProcess([*argv, "--host", "127.0.0.1", "--port", "0"])
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
        results = await check_agent(f"127.0.0.1:{port}")
        assert [result.check for result in results] == [check for check, _ in CHECKS]
        assert all(result.ok for result in results), {r.check: r.detail for r in results if not r.ok}
    finally:
        assert await process.stop() == 0
