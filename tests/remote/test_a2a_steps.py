"""Workflow steps that call A2A agents: a real agent made with a2a-sdk's server classes, behind a
gateway whose mesh file names it, all real processes.

The agent records every message it receives (with its headers), every cancellation, and what
each execution did: these tests count deliveries from its side.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from agentmesh.client import ReplicaHealth
from agentmesh.messages import Message, struct_to_dict, value_to_python
from agentmesh.v1 import run_pb2, workflow_pb2
from tests.remote.conftest import TOKEN, Remotes, flow
from tests.support.mesh import Gateway, finished, kinds, workflow


async def run_to_end(
    gateway: Gateway, flow: workflow_pb2.Workflow
) -> tuple[run_pb2.Run, list[run_pb2.RunEvent]]:
    handle = await gateway.start_run(flow)
    return await finished(gateway, handle)


def output(run: run_pb2.Run) -> Any:
    return value_to_python(run.steps[0].output)


@pytest.mark.parametrize(
    ("agent", "binding"), [("weather", "GRPC"), ("weather_rpc", "JSONRPC"), ("weather_rest", "HTTP+JSON")]
)
async def test_a_step_calls_the_agent_and_gets_its_output(
    gateway: Gateway, remotes: Remotes, agent: str, binding: str
) -> None:
    remote = {"weather": remotes.weather, "weather_rpc": remotes.rpc, "weather_rest": remotes.rest}[agent]
    key = f"answer-{agent}"
    run, events = await run_to_end(gateway, flow(agent, {"behaviour": "answer", "key": key, "city": "Oslo"}))

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert output(run) == {"key": key, "echo": {"behaviour": "answer", "key": key, "city": "Oslo"}}
    assert run.steps[0].text == "answered" and not run.steps[0].direct  # a task's result
    assert "step_remote_task" in kinds(events)
    [received] = remote.records("message", context_id=run.run_id)
    # The binding the gateway prefers among those the card offers; the message as the brief says.
    assert received["binding"] == binding
    assert received["message_id"] == f"{run.run_id}/ask/-/1"
    assert received["idempotency_key"] == received["message_id"]
    assert received["metadata"] == {"skill": "forecast"}
    assert received["traceparent"].startswith("00-") and run.run_id[:32] in received["traceparent"]
    assert received["authorization"] == (f"Bearer {TOKEN}" if agent == "weather" else "")
    [recorded] = [e.step_remote_task for e in events if e.HasField("step_remote_task")]
    assert (recorded.step_id, recorded.attempt, recorded.task_id, recorded.turn) == (
        "ask",
        1,
        received["task_id"],
        0,
    )


async def test_each_for_each_item_is_a_task_of_its_own(gateway: Gateway, remotes: Remotes) -> None:
    step = {
        "id": "each",
        "agent": "weather",
        "for_each": "${inputs.cities}",
        "input": {"behaviour": "answer", "key": "${item}"},
    }
    handle = await gateway.start_run(
        workflow({"name": "each", "steps": [step]}), {"cities": ["Oslo", "Rome"]}
    )
    run, events = await finished(gateway, handle)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert [item["key"] for item in output(run)] == ["Oslo", "Rome"]
    received = sorted(
        remotes.weather.records("message", context_id=run.run_id), key=lambda r: r["message_id"]
    )
    assert [r["message_id"] for r in received] == [f"{run.run_id}/each/{n}/1" for n in (0, 1)]
    recorded = {
        (e.step_remote_task.item, e.step_remote_task.task_id)
        for e in events
        if e.HasField("step_remote_task")
    }
    assert recorded == {(0, received[0]["task_id"]), (1, received[1]["task_id"])}


@pytest.mark.parametrize("agent", ["weather", "weather_rest"])
async def test_a_reply_with_no_task_is_the_output(gateway: Gateway, agent: str) -> None:
    run, events = await run_to_end(gateway, flow(agent, {"behaviour": "message", "key": "direct"}))

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert output(run) == {"key": "direct", "replied": True}
    assert run.steps[0].text == "hello"
    assert run.steps[0].direct  # a Message: the agent's reply is direct, through the mesh too
    assert "step_remote_task" not in kinds(events)  # no task to record


@pytest.mark.parametrize("agent", ["weather", "weather_rpc"])
async def test_streamed_text_arrives_as_output_chunks(gateway: Gateway, remotes: Remotes, agent: str) -> None:
    run, events = await run_to_end(gateway, flow(agent, {"behaviour": "stream", "key": "story", "chunks": 3}))

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    streamed = "".join(e.step_output_chunk.text for e in events if e.HasField("step_output_chunk"))
    assert "chunk 0. " in streamed and "chunk 2. " in streamed and "[status 1]" in streamed
    # More than one chunk event: the text came as it was made, not at the end.
    assert sum(e.HasField("step_output_chunk") for e in events) > 1
    assert run.steps[0].text == "chunk 0. chunk 1. chunk 2. "
    assert output(run) == {"key": "story", "chunks": 3}


@pytest.mark.parametrize("agent", ["weather", "weather_rest"])
async def test_a_question_waits_for_an_answer_which_goes_to_the_same_task(
    gateway: Gateway, remotes: Remotes, agent: str
) -> None:
    remote = remotes.weather if agent == "weather" else remotes.rest
    handle = await gateway.start_run(flow(agent, {"behaviour": "ask", "key": f"q-{agent}"}))
    asked = await gateway.wait_for(handle.run_id, "step_input_required")
    assert Message.from_proto(asked.step_input_required.request.question).text == "Which one?"
    async with asyncio.timeout(20):
        while (await gateway.get_run(handle.run_id)).state != run_pb2.RUN_STATE_WAITING_FOR_INPUT:
            await asyncio.sleep(0.05)

    await handle.respond("ask", {"choice": 2})
    run, events = await finished(gateway, handle)

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert output(run) == {"key": f"q-{agent}", "answer": {"choice": 2}}
    assert run.steps[0].text == "thanks"
    first, answer = remote.records("message", context_id=run.run_id)
    assert answer["task_id"] == first["task_id"] and answer["continues"] and not first["continues"]
    assert answer["message_id"] == f"{run.run_id}/ask/-/1-1"
    assert answer["data"] == {"choice": 2}
    turns = [
        (e.step_remote_task.task_id, e.step_remote_task.turn)
        for e in events
        if e.HasField("step_remote_task")
    ]
    assert turns == [(first["task_id"], 0), (first["task_id"], 1)]


async def test_cancelling_the_run_cancels_the_remote_task(gateway: Gateway, remotes: Remotes) -> None:
    handle = await gateway.start_run(flow("weather", {"behaviour": "slow", "key": "long", "seconds": 60}))
    recorded = await gateway.wait_for(handle.run_id, "step_remote_task")
    task_id = recorded.step_remote_task.task_id

    await handle.cancel("no longer needed")

    await remotes.weather.recorded("cancel", task_id=task_id)
    await remotes.weather.recorded("cancelled", task_id=task_id)
    run, _ = await finished(gateway, handle)
    assert run.state == run_pb2.RUN_STATE_CANCELLED
    assert not remotes.weather.records("finished", task_id=task_id)


async def test_cancelling_a_run_waiting_on_a_question_cancels_the_remote_task(
    gateway: Gateway, remotes: Remotes
) -> None:
    handle = await gateway.start_run(flow("weather", {"behaviour": "ask", "key": "never-answered"}))
    recorded = await gateway.wait_for(handle.run_id, "step_remote_task")
    await gateway.wait_for(handle.run_id, "run_waiting")

    await handle.cancel()

    await remotes.weather.recorded("cancel", task_id=recorded.step_remote_task.task_id)


@pytest.mark.parametrize(
    ("data", "code", "reason", "deliveries"),
    [
        ({"behaviour": "fail", "message": "no forecast"}, "FAILED_PRECONDITION", "REMOTE_TASK_FAILED", 1),
        ({"behaviour": "fail", "retryable": True}, "UNAVAILABLE", "REMOTE_TASK_FAILED", 2),
        ({"behaviour": "reject"}, "FAILED_PRECONDITION", "REMOTE_TASK_REJECTED", 1),
    ],
)
async def test_how_a_remote_task_ends_is_how_the_step_fails(
    gateway: Gateway, remotes: Remotes, data: dict[str, Any], code: str, reason: str, deliveries: int
) -> None:
    retry = {"max_attempts": 2, "initial_delay": "0.05s"}
    run, _ = await run_to_end(gateway, flow("weather", {**data, "key": reason}, retry=retry))

    assert run.state == run_pb2.RUN_STATE_FAILED
    assert (run.error.code, run.error.reason, run.error.step_id) == (code, reason, "ask")
    if data.get("message"):
        assert "no forecast" in run.error.message
    received = remotes.weather.records("message", context_id=run.run_id)
    # A retry is a new attempt, so a new message (its own id) and a new task.
    assert [r["message_id"] for r in received] == [
        f"{run.run_id}/ask/-/{n}" for n in range(1, deliveries + 1)
    ]
    assert len({r["task_id"] for r in received}) == deliveries


async def test_a_step_timeout_cancels_the_remote_task(gateway: Gateway, remotes: Remotes) -> None:
    data = {"behaviour": "slow", "key": "too-slow", "seconds": 30}
    retry = {"max_attempts": 2, "initial_delay": "0.05s"}
    run, _ = await run_to_end(gateway, flow("weather", data, timeout="1s", retry=retry))

    assert (run.state, run.error.code) == (run_pb2.RUN_STATE_FAILED, "DEADLINE_EXCEEDED")
    # Each attempt's task was cancelled when its time was up; the retry started a task of its own.
    first, second = remotes.weather.records("message", context_id=run.run_id)
    assert (first["message_id"], second["message_id"]) == (f"{run.run_id}/ask/-/1", f"{run.run_id}/ask/-/2")
    assert first["task_id"] != second["task_id"]
    for received in (first, second):
        await remotes.weather.recorded("cancel", task_id=received["task_id"])


async def test_list_agents_shows_the_cards_skills_and_health(gateway: Gateway, remotes: Remotes) -> None:
    agents = {a.name: a for a in await gateway.client.list_agents()}

    weather = agents["weather"]
    assert [(r.address, r.health) for r in weather.replicas] == [
        (remotes.weather.card_url, ReplicaHealth.SERVING)
    ]
    assert weather.card is not None and weather.card.name == "weather" and weather.card.streaming
    forecast = weather.card.skills[0]
    assert (forecast.id, forecast.name, forecast.description) == (
        "forecast",
        "Forecast",
        "Tells the weather.",
    )
    assert list(forecast.tags) == ["weather", "test"]
    assert struct_to_dict(forecast.input_schema) == {"type": "object"}
    assert weather.skills == ("forecast", "chat")
    # The base URL given for weather_rpc: the card was found at the well-known path under it.
    assert [r.address for r in agents["weather_rpc"].replicas] == [remotes.rpc.card_url]
    assert agents["weather_rest"].card is not None and not agents["weather_rest"].card.streaming
