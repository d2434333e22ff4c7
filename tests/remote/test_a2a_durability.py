"""A2A agents and the mesh's durability: the gateway killed while remote tasks run or wait, the
agent going away and coming back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from agentmesh.client import AgentStatus, ReplicaHealth
from agentmesh.messages import Message, value_to_python
from agentmesh.v1 import run_pb2
from tests.remote.conftest import config_args, flow, mesh_file, start_a2a_agent
from tests.support.mesh import finished, kinds, running_gateway


@pytest.mark.slow
@pytest.mark.parametrize("stop", ["SIGKILL", "SIGTERM"])
async def test_a_gateway_stopped_re_attaches_to_remote_tasks_without_sending_again(
    tmp_path: Path, stop: str
) -> None:
    """Killed (-9) or stopped (SIGTERM: the runs are interrupted, not ended), the gateway leaves
    the remote tasks running; the next one follows them to their end."""
    agent = await start_a2a_agent(tmp_path / "agent.jsonl")
    mesh = config_args(mesh_file(tmp_path / "mesh.yaml", {"weather": agent.card_url}))
    store = tmp_path / "gateway.db"
    try:
        async with running_gateway(store, {}, mesh) as first:
            # Still running when the next gateway starts (it subscribes), ended by then (it reads
            # the task), and waiting for an answer (the answer goes to the task it asked from).
            running = await first.start_run(
                flow("weather", {"behaviour": "slow", "key": "running", "seconds": 6})
            )
            ended = await first.start_run(
                flow("weather", {"behaviour": "slow", "key": "ended", "seconds": 0.5})
            )
            asking = await first.start_run(flow("weather", {"behaviour": "ask", "key": "asking"}))
            for handle in (running, ended):
                await first.wait_for(handle.run_id, "step_remote_task")
            await first.wait_for(asking.run_id, "run_waiting")
            # While the agent works on two tasks.
            await (first.process.kill() if stop == "SIGKILL" else first.process.stop())
        await agent.recorded("finished", key="ended")
        assert not agent.records("finished", key="running")
        assert not agent.records("cancel")

        async with running_gateway(store, {}, mesh) as second:
            results = {handle.run_id: await finished(second, handle) for handle in (running, ended)}
            await second.client.handle(asking.run_id).respond("ask", {"choice": 7})
            results[asking.run_id] = await finished(second, asking)
    finally:
        await agent.process.stop()

    for handle, key in ((running, "running"), (ended, "ended")):
        run, events = results[handle.run_id]
        assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
        assert "run_resumed" in kinds(events)
        assert value_to_python(run.steps[0].output)["key"] == key
        # The agent saw the step's message once: the resumed attempt re-attached to its task.
        [received] = agent.records("message", context_id=run.run_id)
        assert received["message_id"] == f"{run.run_id}/ask/-/1"
        assert len(agent.records("finished", key=key)) == 1
        tasks = {e.step_remote_task.task_id for e in events if e.HasField("step_remote_task")}
        assert tasks == {received["task_id"]}

    run, events = results[asking.run_id]
    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert value_to_python(run.steps[0].output) == {"key": "asking", "answer": {"choice": 7}}
    first_message, answer = agent.records("message", context_id=run.run_id)
    assert answer["task_id"] == first_message["task_id"]
    asked = next(e for e in events if e.HasField("step_input_required"))
    assert Message.from_proto(asked.step_input_required.request.question).text == "Which one?"


@pytest.mark.slow
async def test_health_follows_the_card_and_a_step_waits_for_the_agent_to_come_back(tmp_path: Path) -> None:
    log = tmp_path / "agent.jsonl"
    agent = await start_a2a_agent(log)
    port = agent.process.port
    mesh = config_args(mesh_file(tmp_path / "mesh.yaml", {"weather": agent.card_url}))

    def health(expected: ReplicaHealth) -> Callable[[Sequence[AgentStatus]], bool]:
        return lambda agents: [r.health for a in agents for r in a.replicas] == [expected]

    try:
        async with running_gateway(tmp_path / "gateway.db", {}, mesh) as gateway:
            [status] = await gateway.agents_when(health(ReplicaHealth.SERVING))
            assert status.skills == ("forecast", "chat")

            await agent.process.stop()
            await gateway.agents_when(health(ReplicaHealth.NOT_SERVING))
            handle = await gateway.start_run(flow("weather", {"behaviour": "answer", "key": "patient"}))

            agent = await start_a2a_agent(log, port=port)  # back, its gRPC port a new one
            await gateway.agents_when(health(ReplicaHealth.SERVING))
            run, _ = await finished(gateway, handle)
    finally:
        await agent.process.stop()

    assert run.state == run_pb2.RUN_STATE_SUCCEEDED, run.error
    assert value_to_python(run.steps[0].output)["key"] == "patient"
    [received] = [r for r in agent.records("message") if r["context_id"] == handle.run_id]
    assert received["binding"] == "GRPC"
