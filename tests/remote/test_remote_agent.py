"""The gateway's A2A client side in this test's loop (`agentmesh_gateway.remote`), against the real
A2A agent: what a resumed attempt does when the gateway stopped between a message reaching the
agent and the gateway recording so (simulated by a ledger whose record fails then)."""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from agentmesh.messages import Message, value_to_python
from agentmesh.v1 import agent_service_pb2 as agent_pb
from agentmesh.v1 import run_pb2
from agentmesh_gateway.remote.agent import RemoteAgent
from agentmesh_gateway.remote.endpoint import A2AEndpoint
from agentmesh_gateway.remote.task import RemoteFailure, TaskLedger
from tests.remote.conftest import Remotes


class Stopped(Exception):
    """The gateway "stopped" here: nothing after it happens."""


class Ledger:
    """A run's record of the invocation's task, as the invoker keeps it; `stop_at` fails the
    record of that turn, as a gateway killed just before it would."""

    def __init__(self, run_id: str, stop_at: int | None = None) -> None:
        self.run_id, self.stop_at = run_id, stop_at
        self.known: run_pb2.StepRemoteTask | None = None

    def for_turn(self, turn: int, *, resumed: bool, attempt: int = 1) -> TaskLedger:
        async def record(task_id: str, at: int) -> None:
            if at == self.stop_at:
                self.stop_at = None
                raise Stopped
            self.known = run_pb2.StepRemoteTask(step_id="ask", attempt=attempt, task_id=task_id, turn=at)

        key = f"{self.run_id}/ask/-/{attempt}" + (f"-{turn}" if turn else "")
        return TaskLedger(key, self.run_id, attempt, turn, self.known, resumed, record)


@asynccontextmanager
async def remote(card_url: str) -> AsyncIterator[RemoteAgent]:
    agent = RemoteAgent("weather", A2AEndpoint(card_url))
    agent.start()
    try:
        await agent.pick(time.monotonic() + 20)
        yield agent
    finally:
        await agent.stop()


def request(data: dict[str, Any]) -> agent_pb.InvokeRequest:
    return agent_pb.InvokeRequest(message=Message.request(data).to_proto(), skill="forecast")


async def call(
    agent: RemoteAgent, invoke: agent_pb.InvokeRequest, ledger: TaskLedger
) -> agent_pb.InvokeResponse:
    return await agent.call(invoke, ledger=ledger, deadline=None, metadata=(), on_chunk=None)


async def test_a_resumed_attempt_finds_the_task_its_message_started_instead_of_sending_again(
    remotes: Remotes,
) -> None:
    run_id = secrets.token_hex(16)
    ledger = Ledger(run_id, stop_at=0)
    invoke = request({"behaviour": "slow", "key": "found", "seconds": 0.5})
    async with remote(remotes.weather.card_url) as agent:
        with pytest.raises(Stopped):
            await call(agent, invoke, ledger.for_turn(0, resumed=False))
        assert ledger.known is None  # the task was never recorded
        response = await call(agent, invoke, ledger.for_turn(0, resumed=True))

    assert value_to_python(response.message.parts[-1].data.fields["key"]) == "found"
    [received] = remotes.weather.records("message", context_id=run_id)
    assert ledger.known is not None and ledger.known.task_id == received["task_id"]


async def test_an_answer_that_reached_the_task_is_not_delivered_again(remotes: Remotes) -> None:
    run_id = secrets.token_hex(16)
    ledger = Ledger(run_id, stop_at=1)
    first = Message.request({"behaviour": "ask", "key": "once"}).to_proto()
    async with remote(remotes.weather.card_url) as agent:
        asked = await call(agent, agent_pb.InvokeRequest(message=first), ledger.for_turn(0, resumed=False))
        assert asked.HasField("input_required")
        answered = agent_pb.InvokeRequest(
            message=Message.request({"choice": 1}).to_proto(), history=[first, asked.message]
        )
        with pytest.raises(Stopped):  # the answer reached the task; its record did not happen
            await call(agent, answered, ledger.for_turn(1, resumed=False))
        assert ledger.known is not None and ledger.known.turn == 0
        response = await call(agent, answered, ledger.for_turn(1, resumed=False))

    assert value_to_python(response.message.parts[-1].data.fields["answer"]) == {"choice": 1}
    messages = remotes.weather.records("message", context_id=run_id)
    assert [m["message_id"] for m in messages] == [f"{run_id}/ask/-/1", f"{run_id}/ask/-/1-1"]
    assert ledger.known.turn == 1


async def test_a_new_attempt_after_a_failed_task_starts_a_new_one_and_a_completed_one_is_kept(
    remotes: Remotes,
) -> None:
    run_id = secrets.token_hex(16)
    ledger = Ledger(run_id)
    async with remote(remotes.weather.card_url) as agent:
        with pytest.raises(RemoteFailure) as failed:
            await call(
                agent, request({"behaviour": "fail", "retryable": True}), ledger.for_turn(0, resumed=False)
            )
        assert (failed.value.code.name, failed.value.reason) == ("UNAVAILABLE", "REMOTE_TASK_FAILED")
        failed_task = ledger.known.task_id if ledger.known else ""
        await call(
            agent,
            request({"behaviour": "answer", "key": "second"}),
            ledger.for_turn(0, resumed=False, attempt=2),
        )
        completed_task = ledger.known.task_id if ledger.known else ""
        # A third attempt (say, after the completion could not be recorded) takes the completed task.
        again = await call(
            agent,
            request({"behaviour": "answer", "key": "third"}),
            ledger.for_turn(0, resumed=False, attempt=3),
        )

    assert failed_task and completed_task and failed_task != completed_task
    assert value_to_python(again.message.parts[-1].data.fields["key"]) == "second"
    assert len(remotes.weather.records("message", context_id=run_id)) == 2
