"""The offline provider's determinism and the rich error statuses, without a server in between."""

from __future__ import annotations

import json

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from agentmesh.errors import FieldViolation, InvalidInput, ProviderRateLimited, provider_error_for_http_status
from agentmesh.llm import OfflineProvider, Prompt, Turn
from agentmesh.status import to_status
from agentmesh_services import load_agent, python_agents


async def test_offline_answers_are_deterministic_and_count_words_as_tokens() -> None:
    researcher = load_agent("researcher")
    provider = OfflineProvider(researcher.composers)
    prompt = Prompt(
        user="plan it", system="be careful", task="plan", data={"topic": "Solar power", "max_subtopics": 4}
    )
    first, second = await provider.generate(prompt), await provider.generate(prompt)
    assert first == second
    plan = json.loads(first.text)
    assert [s["title"] for s in plan["subtopics"]][:2] == ["Foundations", "Current landscape"]
    assert len(plan["subtopics"]) == 4
    assert first.usage.input_tokens == 4
    assert first.usage.output_tokens == len(first.text.split())


async def test_offline_stream_reassembles_to_the_same_text_with_usage_last() -> None:
    provider = OfflineProvider()
    prompt = Prompt(user="hello there", history=[Turn("user", "earlier"), Turn("assistant", "reply")])
    whole = await provider.generate(prompt)
    chunks = [chunk async for chunk in provider.stream(prompt)]
    assert "".join(c.text for c in chunks) == whole.text
    assert [c.usage for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    assert chunks[-1].usage == whole.usage
    assert "1 message" in whole.text  # it remembers the earlier user turn


def test_every_shipped_python_agent_has_an_offline_composer_for_each_skill() -> None:
    # The Go and TypeScript agents' composers are checked by their own languages' tests.
    for name in python_agents():
        agent = load_agent(name)
        assert {skill.id for skill in agent.skills} <= set(agent.composers), name


def test_invalid_input_travels_as_error_info_plus_bad_request() -> None:
    error = InvalidInput(
        "bad input", [FieldViolation("topic", "too short"), FieldViolation("depth", "unknown")]
    )
    status = to_status(error)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT
    proto = status_pb2.Status.FromString(dict(status.trailing_metadata)["grpc-status-details-bin"])
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    assert proto.details[0].Unpack(info) and proto.details[1].Unpack(bad)
    assert (info.domain, info.reason) == ("agentmesh", "INVALID_INPUT")
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("topic", "too short"),
        ("depth", "unknown"),
    ]


@pytest.mark.parametrize(
    ("http", "code", "retryable"),
    [
        (429, grpc.StatusCode.RESOURCE_EXHAUSTED, True),
        (503, grpc.StatusCode.UNAVAILABLE, True),
        (408, grpc.StatusCode.UNAVAILABLE, True),
        (400, grpc.StatusCode.INVALID_ARGUMENT, False),
        (404, grpc.StatusCode.INVALID_ARGUMENT, False),
        (401, grpc.StatusCode.FAILED_PRECONDITION, False),
    ],
)
def test_provider_http_statuses_map_to_codes_with_retry_meaning(
    http: int, code: grpc.StatusCode, retryable: bool
) -> None:
    error = provider_error_for_http_status(http, "boom", provider="gemini")
    assert (error.code, error.retryable) == (code, retryable)
    assert error.metadata == {"provider": "gemini", "http_status": str(http)}


def test_rate_limits_keep_the_servers_retry_after() -> None:
    error = provider_error_for_http_status(429, "slow down", provider="openai", retry_after=2.5)
    assert isinstance(error, ProviderRateLimited)
    assert error.metadata["retry_after_seconds"] == "2.5"
