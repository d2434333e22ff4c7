"""The Python client against a real gateway process: typed runs and events, errors, reconnects."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from agentmesh.client import (
    Client,
    RunCompleted,
    RunStarted,
    RunState,
    StepCompleted,
    StepStarted,
    StepState,
    SyncClient,
)
from agentmesh.errors import InvalidWorkflow, NotFound, RunCancelledError, RunFailedError, Unavailable
from tests.support.mesh import Gateway, gateway_process, running_gateway, start_probe, step, workflow

CHAIN = workflow(
    {
        "name": "chain",
        "steps": [
            step(f"s{i}", "echo", {"key": f"client-{i}", "ms": 150}, dependencies=[f"s{i - 1}"] if i else [])
            for i in range(4)
        ],
    }
)


async def test_a_run_is_started_followed_as_typed_events_and_awaited(gateway: Gateway) -> None:
    flow = workflow(
        {
            "name": "typed",
            "steps": [step("a", "echo", {"key": "typed", "value": {"n": 1}})],
            "outputs": {"value": "${steps.a.output.value}"},
        }
    )
    handle = await gateway.client.start(flow)
    events = [event async for event in handle.events()]
    assert [type(e) for e in events] == [RunStarted, StepStarted, StepCompleted, RunCompleted]
    assert [e.sequence for e in events] == [1, 2, 3, 4]
    started, completed = events[1], events[2]
    assert isinstance(started, StepStarted) and started.address.startswith("127.0.0.1:")
    assert isinstance(completed, StepCompleted) and completed.output == {"key": "typed", "value": {"n": 1}}
    run = await handle.result()
    assert run.state == RunState.SUCCEEDED and run.outputs == {"value": {"n": 1}}
    assert run.step("a").state == StepState.SUCCEEDED and run.duration is not None


async def test_a_failed_or_cancelled_run_is_raised_with_its_error(gateway: Gateway) -> None:
    failing = workflow({"name": "fails", "steps": [step("boom", "fail", {"code": "FAILED_PRECONDITION"})]})
    with pytest.raises(RunFailedError) as failed:
        await gateway.client.run(failing)
    assert failed.value.error.step_id == "boom" and failed.value.error.code == "FAILED_PRECONDITION"
    assert failed.value.run.state == RunState.FAILED

    slow = workflow({"name": "slow", "steps": [step("wait", "echo", {"key": "slow", "ms": 30000})]})
    handle = await gateway.client.start(slow)
    waiting = asyncio.create_task(handle.result())
    await gateway.wait_for(handle.run_id, "step_started")
    await handle.cancel("not needed")
    with pytest.raises(RunCancelledError):
        await waiting


async def test_gateway_errors_arrive_as_the_documented_exceptions(gateway: Gateway) -> None:
    with pytest.raises(NotFound) as missing:
        await gateway.client.get_run("no-such-run")
    assert missing.value.reason == "RUN_NOT_FOUND"
    broken = workflow({"name": "broken", "steps": [{"id": "a", "agent": "nobody", "skill": "x"}]})
    with pytest.raises(InvalidWorkflow) as invalid:
        await gateway.client.start(broken)
    assert [v.field for v in invalid.value.violations] == ["workflow.steps[0].agent"]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed = f"127.0.0.1:{unused.getsockname()[1]}"
    with pytest.raises(Unavailable):
        await Client.connect(closed, timeout=0.5)


async def test_a_workflow_file_runs_by_path(gateway: Gateway, tmp_path: Path) -> None:
    path = tmp_path / "hello.yaml"
    path.write_text(
        'name: from-file\nsteps:\n  - {id: hi, agent: probe, skill: echo, input: {key: "${inputs.who}"}}\n'
    )
    run = await gateway.client.run(path, {"who": "file"})
    assert run.workflow_name == "from-file" and run.step("hi").output["key"] == "file"


async def test_stream_starts_and_follows_in_one_call(gateway: Gateway) -> None:
    events = [event async for event in gateway.client.stream(CHAIN)]
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunCompleted)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))


async def test_events_continue_without_a_gap_across_a_gateway_restart(tmp_path: Path) -> None:
    """The handle's stream breaks when the gateway stops; it reconnects to the restarted one and
    goes on after the last event it delivered, each event once."""
    probe = await start_probe(tmp_path / "probe.jsonl")
    store = tmp_path / "gateway.db"
    try:
        async with running_gateway(store, {"probe": [probe.port]}) as first:
            port = first.process.port
            client = await Client.connect(first.target)
            handle = await client.start(CHAIN)
            events = handle.events()
            seen = [await anext(events), await anext(events), await anext(events)]
            await first.process.stop()  # SIGTERM: the stream breaks, the run is interrupted
            restarted = gateway_process(store, {"probe": [probe.port]}, port=port)
            await restarted.start()
            try:
                seen += [event async for event in events]
            finally:
                await restarted.stop()
                await client.close()
    finally:
        await probe.stop()
    assert [e.sequence for e in seen] == list(range(1, len(seen) + 1))
    kinds = [type(e).__name__ for e in seen]
    assert kinds[-1] == "RunCompleted" and "RunResumed" in kinds


def test_the_sync_client_does_the_same_without_an_event_loop(gateway: Gateway) -> None:
    with SyncClient.connect(gateway.target) as client:
        handle = client.start(CHAIN)
        events = list(handle.events())
        assert isinstance(events[-1], RunCompleted)
        assert handle.result().state == RunState.SUCCEEDED
        assert handle.run_id in [run.run_id for run in client.list_runs()]
        assert "probe" in [agent.name for agent in client.list_agents()]
        with pytest.raises(NotFound):
            client.get_run("no-such-run")
