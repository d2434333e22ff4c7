"""Agent processes thinking through real provider SDKs, against local fakes of the provider APIs."""

from __future__ import annotations

import json

import grpc
import pytest

from agentmesh.messages import Message
from agentmesh.status import details_of
from agentmesh.v1 import agent_service_pb2 as pb
from tests.conftest import running_agent
from tests.support.fakes.gemini import FakeGemini
from tests.support.fakes.openai import FakeOpenAI
from tests.support.samples import ANALYSIS

PLAN = {"topic": "Edge computing", "depth": "quick", "max_subtopics": 2}
MODEL_PLAN = {
    "topic": "Edge computing",
    "depth": "quick",
    "subtopics": [
        {"title": "Latency", "question": "How much latency does the edge save?", "keywords": ["latency"]},
        {"title": "Cost", "question": "What does running at the edge cost?", "keywords": ["cost"]},
        {"title": "Security", "question": "How is the edge secured?", "keywords": ["security"]},
    ],
}


async def test_researcher_plans_with_an_openai_compatible_model() -> None:
    with FakeOpenAI() as fake:
        env = {
            "AGENTMESH_LLM": "openai",
            "AGENTMESH_OPENAI_BASE_URL": fake.base_url,
            "AGENTMESH_OPENAI_MODEL": "m",
        }
        async with running_agent("researcher", env) as agent:
            fake.answer("```json\n" + json.dumps(MODEL_PLAN) + "\n```", prompt_tokens=40, output_tokens=60)
            response = await agent.invoke("plan", PLAN)
    reply = Message.from_proto(response.message)
    # The model offered three subtopics; the caller asked for at most two.
    assert [s["title"] for s in reply.data["subtopics"]] == ["Latency", "Cost"]
    assert (reply.metadata["llm_provider"], reply.metadata["llm_model"]) == ("openai", "m")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (40, 60)
    assert "Edge computing" in fake.requests[0].body["messages"][-1]["content"]


async def test_a_rate_limited_model_becomes_a_retryable_status() -> None:
    with FakeOpenAI() as fake:
        env = {"AGENTMESH_LLM": "openai", "AGENTMESH_OPENAI_BASE_URL": fake.base_url}
        async with running_agent("researcher", env) as agent:
            fake.fail(429, "slow down")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await agent.invoke("plan", PLAN)
            fake.fail(400, "bad request")
            with pytest.raises(grpc.aio.AioRpcError) as rejected:
                await agent.invoke("plan", PLAN)
            fake.answer("this is not json")
            with pytest.raises(grpc.aio.AioRpcError) as garbled:
                await agent.invoke("plan", PLAN)
    limited = details_of(caught.value)
    assert (limited.code, limited.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LLM_RATE_LIMITED")
    assert limited.metadata["http_status"] == "429"
    refused = details_of(rejected.value)
    assert (refused.code, refused.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "LLM_REQUEST_REJECTED")
    bad_output = details_of(garbled.value)
    assert (bad_output.code, bad_output.reason) == (grpc.StatusCode.UNAVAILABLE, "LLM_BAD_OUTPUT")


async def test_writer_streams_a_gemini_answer_chunk_by_chunk() -> None:
    report = "# Open source in schools\n\n## Summary\n\nFree software teaches real skills.\n"
    with FakeGemini() as fake:
        env = {"AGENTMESH_LLM": "gemini", "GEMINI_API_KEY": "k", "AGENTMESH_GEMINI_BASE_URL": fake.base_url}
        async with running_agent("writer", env) as agent:
            fake.stream(report, prompt_tokens=30, output_tokens=12)
            message = Message.request({"topic": "Open source in schools", "analysis": ANALYSIS})
            request = pb.InvokeStreamRequest(skill="draft", message=message.to_proto())
            events = [event async for event in agent.stub.InvokeStream(request, timeout=20)]
    chunks = [e.chunk.text for e in events if e.WhichOneof("event") == "chunk"]
    assert len(chunks) > 3 and "".join(chunks) == report
    result = events[-1].result
    final = Message.from_proto(result.message)
    assert final.data["sections"] == ["Summary"] and final.data["title"] == "Open source in schools"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (30, 12)
    assert final.metadata["llm_provider"] == "gemini"


MODEL_TRENDS = {
    "platform": "x",
    "topic": "robots",
    "date_range": "last_30_days",
    "trends": [
        {"rank": i, "name": f"robot trend {i}", "hashtag": f"#Robot{i}", "score": 90 - i}
        | {"growth_percent": 12.5, "description": "rising"}
        for i in (1, 2, 3)
    ],
}


@pytest.mark.parametrize("provider", ["gemini", "openai"])
async def test_the_go_trend_scanner_thinks_through_either_api(provider: str) -> None:
    # The Go kit's own REST clients, against the same fakes the Python SDKs are tested with.
    fake: FakeGemini | FakeOpenAI = FakeGemini() if provider == "gemini" else FakeOpenAI()
    with fake:
        env = {"AGENTMESH_LLM": provider, "AGENTMESH_OPENAI_MODEL": "m", "AGENTMESH_GEMINI_MODEL": "m"}
        env |= {"GEMINI_API_KEY": "sekret-gemini", "AGENTMESH_OPENAI_API_KEY": "sekret-openai"}
        env |= {"AGENTMESH_GEMINI_BASE_URL": fake.base_url, "AGENTMESH_OPENAI_BASE_URL": fake.base_url}
        async with running_agent("trend-scanner", env) as agent:
            fake.answer(json.dumps(MODEL_TRENDS), prompt_tokens=21, output_tokens=34)
            response = await agent.invoke("scan", {"platform": "x", "topic": "robots", "limit": 2})
            fake.fail(429, "slow down")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await agent.invoke("scan", {"platform": "x", "topic": "robots"})
            fake.answer("no json here")
            with pytest.raises(grpc.aio.AioRpcError) as garbled:
                await agent.invoke("scan", {"platform": "x", "topic": "robots"})
            logs = "\n".join(json.dumps(entry) for entry in agent.process.logs)
    reply = Message.from_proto(response.message)
    # The agent keeps the caller's platform, topic and range, and the limit it was given.
    assert [t["name"] for t in reply.data["trends"]] == ["robot trend 1", "robot trend 2"]
    assert reply.data["date_range"] == "last_7_days"
    assert (reply.metadata["llm_provider"], reply.metadata["llm_model"]) == (provider, "m")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (21, 34)
    sent = fake.requests[0]
    headers = {key.lower(): value for key, value in sent.headers.items()}
    if provider == "gemini":
        assert sent.path == "/v1beta/models/m:generateContent"
        assert headers["x-goog-api-key"] == "sekret-gemini" and "sekret" not in sent.path
        assert sent.body["generationConfig"]["responseMimeType"] == "application/json"
        assert "robots" in sent.body["contents"][-1]["parts"][0]["text"]
    else:
        assert sent.path == "/v1/chat/completions"
        assert headers["authorization"] == "Bearer sekret-openai"
        assert "robots" in sent.body["messages"][-1]["content"]
    limited = details_of(caught.value)
    assert (limited.code, limited.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LLM_RATE_LIMITED")
    assert limited.metadata["http_status"] == "429"
    assert details_of(garbled.value).reason == "LLM_BAD_OUTPUT"
    assert "sekret" not in logs


MODEL_SCRIPT = {
    "title": "Robots at home",
    "format": "unboxing",
    "objective": "awareness",
    "platform": "tiktok",
    "hook": "Meet your new helper.",
    "scenes": [{"number": 1, "duration_seconds": 20, "visual": "box", "narration": "Open it."}],
    "call_to_action": "Follow!",
    "hashtags": ["#Robots"],
    "duration_seconds": 26,
}


@pytest.mark.parametrize("provider", ["gemini", "openai"])
async def test_the_typescript_video_scriptor_thinks_through_either_official_sdk(provider: str) -> None:
    # @google/genai and openai, the official TypeScript SDKs, against the same local fakes.
    fake: FakeGemini | FakeOpenAI = FakeGemini() if provider == "gemini" else FakeOpenAI()
    with fake:
        env = {"AGENTMESH_LLM": provider, "AGENTMESH_OPENAI_MODEL": "m", "AGENTMESH_GEMINI_MODEL": "m"}
        env |= {"GEMINI_API_KEY": "sekret-gemini", "AGENTMESH_OPENAI_API_KEY": "sekret-openai"}
        env |= {"AGENTMESH_GEMINI_BASE_URL": fake.base_url, "AGENTMESH_OPENAI_BASE_URL": fake.base_url}
        request = {"format": "unboxing", "objective": "awareness", "trends": ["robots"]}
        async with running_agent("video-scriptor", env) as agent:
            fake.answer("```json\n" + json.dumps(MODEL_SCRIPT) + "\n```", prompt_tokens=50, output_tokens=70)
            response = await agent.invoke("script", request)
            fake.fail(429, "slow down")
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await agent.invoke("script", request)
            fake.fail(503, "overloaded")
            with pytest.raises(grpc.aio.AioRpcError) as unavailable:
                await agent.invoke("script", request)
            fake.answer('{"title": "no scenes"}')
            with pytest.raises(grpc.aio.AioRpcError) as garbled:
                await agent.invoke("script", request)
            logs = "\n".join(json.dumps(entry) for entry in agent.process.logs)
    reply = Message.from_proto(response.message)
    assert reply.data["title"] == "Robots at home" and reply.data["scenes"][0]["on_screen_text"] == ""
    assert (reply.metadata["llm_provider"], reply.metadata["llm_model"]) == (provider, "m")
    assert (response.usage.input_tokens, response.usage.output_tokens) == (50, 70)
    sent = fake.requests[0]
    headers = {key.lower(): value for key, value in sent.headers.items()}
    if provider == "gemini":
        assert sent.path.startswith("/v1beta/models/m:generateContent")
        assert headers["x-goog-api-key"] == "sekret-gemini" and "sekret" not in sent.path
    else:
        assert sent.path == "/v1/chat/completions"
        assert headers["authorization"] == "Bearer sekret-openai"
    limited = details_of(caught.value)
    assert (limited.code, limited.reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "LLM_RATE_LIMITED")
    assert "slow down" in limited.message
    assert details_of(unavailable.value).code == grpc.StatusCode.UNAVAILABLE
    assert details_of(garbled.value).reason == "LLM_BAD_OUTPUT"
    assert "sekret" not in logs
