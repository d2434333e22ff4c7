"""A reply's files (`Reply.files`): raw and url parts after its text and data, the same through the
agent's real server and `SkillEnvironment`, and a part that is not a file refused where it is made."""

from __future__ import annotations

import grpc
import pytest
from pydantic import BaseModel

from agentmesh import Agent, Context, RawPart, Reply, TextPart, UrlPart
from agentmesh.messages import DataPart, Message, files_of
from agentmesh.runtime import agent_host
from agentmesh.testing import SkillEnvironment
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc

REPORT = RawPart(b"\x00a report\xff", "application/octet-stream", "report.bin")
CHART = UrlPart("https://example.com/chart.png", "image/png", "chart.png")

filer = Agent("filer")


class Nothing(BaseModel):
    pass


@filer.skill("report", "A report and a link to its chart.", input=Nothing)
async def report(data: Nothing, ctx: Context) -> Reply:
    return Reply(text="here it is", data={"pages": 1}, files=[REPORT, CHART])


async def test_skill_environment_exposes_the_files_in_order() -> None:
    result = await SkillEnvironment(filer).invoke("report", {})
    assert result.files == (REPORT, CHART)
    assert (result.text, result.data) == ("here it is", {"pages": 1})
    # The files follow the text and data in the reply message, as on the wire.
    assert [type(part) for part in result.reply.parts] == [TextPart, DataPart, RawPart, UrlPart]


async def test_the_server_sends_them_as_raw_and_url_parts_with_media_type_and_filename() -> None:
    host = agent_host(filer, SkillEnvironment(filer).llm)
    port = await host.start("127.0.0.1:0")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            request = pb.InvokeRequest(skill="report", message=Message.request({}).to_proto())
            response = await stub.Invoke(request, timeout=5)
    finally:
        await host.stop(0.5)
    files = [p for p in response.message.parts if p.WhichOneof("content") in ("raw", "url")]
    assert [(p.WhichOneof("content"), p.media_type, p.filename) for p in files] == [
        ("raw", "application/octet-stream", "report.bin"),
        ("url", "image/png", "chart.png"),
    ]
    assert files[0].raw == REPORT.raw and files[1].url == CHART.url
    assert files_of(response.message.parts) == (REPORT, CHART)


def test_a_reply_refuses_a_part_that_is_not_a_file() -> None:
    with pytest.raises(TypeError, match="RawPart or UrlPart, not TextPart"):
        Reply(files=[TextPart("not a file")])  # type: ignore[list-item]
    assert Reply(files=[REPORT]).files == (REPORT,)  # any sequence, kept as a tuple
