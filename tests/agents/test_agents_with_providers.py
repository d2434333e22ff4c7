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
