"""The gateway's API around runs: watching and resuming, idempotent starts, listing, errors, metrics, chat."""

from __future__ import annotations

import asyncio

import pytest

from agentmesh.client import RunState
from agentmesh.errors import InvalidInput, NotFound
from agentmesh.v1 import orchestrator_service_pb2 as pb
from tests.support.mesh import Gateway, kinds, step, workflow


async def test_watch_disconnect_and_resume_delivers_every_event_exactly_once(gateway: Gateway) -> None:
    flow = workflow(
        {
            "name": "chain",
            "steps": [
                step(
                    f"s{i}", "echo", {"key": f"chain-{i}", "ms": 100}, dependencies=[f"s{i - 1}"] if i else []
                )
                for i in range(5)
            ],
        }
    )
    run = await gateway.start_run(flow)
    first = []
    events = run.events()
    async for event in events:
        first.append(event.proto)
        if len(first) == 3:
            break
    await events.aclose()  # the client goes away mid-run
    rest = await gateway.events(run.run_id, after=3)
    sequences = [e.sequence for e in first + rest]
    assert sequences == list(range(1, len(sequences) + 1))
    assert rest[0].sequence == 4
    assert kinds(rest)[-1] == "run_completed"
    replay = await gateway.events(run.run_id)  # a finished run replays and closes
    assert replay == first + rest


async def test_the_same_request_id_returns_the_same_run(gateway: Gateway) -> None:
    flow = workflow({"name": "once", "steps": [step("only", "echo", {"key": "once-1"})]})
    first = await gateway.start_run(flow, request_id="req-42")
    second = await gateway.start_run(flow, request_id="req-42")
    assert second.run_id == first.run_id
    await gateway.events(first.run_id)
    third = await gateway.start_run(flow, request_id="req-42")
    assert third.run_id == first.run_id and (await third.get()).state == RunState.SUCCEEDED


async def test_list_runs_pages_newest_first_and_filters_by_state(gateway: Gateway) -> None:
    flow = workflow({"name": "page", "steps": [step("only", "echo", {"key": "page"})]})
    ids = [(await gateway.start_run(flow)).run_id for _ in range(3)]
    for run_id in ids:
        await gateway.events(run_id)
    seen = [run.run_id async for run in gateway.client.list_runs(page_size=2)]  # pages of two
    assert seen.index(ids[2]) < seen.index(ids[1]) < seen.index(ids[0])
    assert len(seen) == len(set(seen))
    doomed = await gateway.start_run(
        workflow({"name": "doomed", "steps": [step("boom", "fail", {"code": "INTERNAL"})]})
    )
    await gateway.events(doomed.run_id)
    failed = [run async for run in gateway.client.list_runs(state=RunState.FAILED, page_size=500)]
    assert doomed.run_id in [r.run_id for r in failed]
    assert all(r.state == RunState.FAILED for r in failed)
    assert not set(ids) & {r.run_id for r in failed}


async def test_unknown_runs_and_workflows_are_not_found(gateway: Gateway) -> None:
    with pytest.raises(NotFound) as caught:
        await gateway.get_run("no-such-run")
    assert caught.value.reason == "RUN_NOT_FOUND"
    with pytest.raises(NotFound):
        await gateway.events("no-such-run")
    with pytest.raises(NotFound) as caught:
        await gateway.start_run("no-such-workflow")
    assert caught.value.reason == "WORKFLOW_NOT_FOUND"
    with pytest.raises(InvalidInput) as invalid:
        # No client method sends a token the gateway did not issue: the call, by hand.
        await gateway.client.call(gateway.client.stub.ListRuns, pb.ListRunsRequest(page_token="garbage"))
    assert [v.field for v in invalid.value.violations] == ["page_token"]


async def test_many_watchers_of_one_run_each_get_the_whole_history(gateway: Gateway) -> None:
    flow = workflow(
        {
            "name": "watched",
            "steps": [
                step(
                    f"w{i}",
                    "echo",
                    {"key": f"watched-{i}", "ms": 50},
                    dependencies=[f"w{i - 1}"] if i else [],
                )
                for i in range(4)
            ],
        }
    )
    run = await gateway.start_run(flow)
    histories = await asyncio.gather(*(gateway.events(run.run_id) for _ in range(20)))
    assert all(h == histories[0] for h in histories)
    assert [e.sequence for e in histories[0]] == list(range(1, len(histories[0]) + 1))


async def test_watch_metrics_streams_at_the_asked_interval(gateway: Gateway) -> None:
    counted = await gateway.start_run(
        workflow({"name": "counted", "steps": [step("one", "echo", {"key": "m"})]})
    )
    await gateway.events(counted.run_id)
    updates = gateway.client.watch_metrics(interval=0.2)
    first, second = await anext(updates), await anext(updates)
    await updates.aclose()
    assert first.time is not None and second.time is not None and second.time > first.time
    assert first.workflows_executed > 0
    with pytest.raises(InvalidInput) as caught:
        await anext(gateway.client.watch_metrics(interval=0.01))
    assert [v.field for v in caught.value.violations] == ["interval"]


async def test_chat_keeps_session_history_and_rejects_empty_messages(gateway: Gateway) -> None:
    first = await gateway.client.chat("Hello there")
    second = await gateway.client.chat("Again", session_id=first.session_id)
    assert second.session_id == first.session_id and first.tokens_used > 0
    assert "you sent 1 message(s)" in second.text
    with pytest.raises(InvalidInput) as caught:
        await gateway.client.chat("  ")
    assert [v.field for v in caught.value.violations] == ["message"]
