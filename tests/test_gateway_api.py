"""The gateway's API around runs: watching and resuming, idempotent starts, listing, errors, metrics, chat."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from google.protobuf import duration_pb2

from agentmesh.status import details_of
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import run_pb2
from tests.mesh import Gateway, kinds, step, workflow


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
    first: list[run_pb2.RunEvent] = []
    call = gateway.stub.WatchRun(pb.WatchRunRequest(run_id=run.run_id))
    async for response in call:
        first.append(response.event)
        if len(first) == 3:
            break
    call.cancel()  # the client goes away mid-run
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
    assert third.run_id == first.run_id and third.state == run_pb2.RUN_STATE_SUCCEEDED


async def test_list_runs_pages_newest_first_and_filters_by_state(gateway: Gateway) -> None:
    flow = workflow({"name": "page", "steps": [step("only", "echo", {"key": "page"})]})
    ids = [(await gateway.start_run(flow)).run_id for _ in range(3)]
    for run_id in ids:
        await gateway.events(run_id)
    seen: list[str] = []
    token = ""
    while True:
        page = await gateway.stub.ListRuns(pb.ListRunsRequest(page_size=2, page_token=token))
        seen += [r.run_id for r in page.runs]
        token = page.next_page_token
        if not token:
            break
    assert seen.index(ids[2]) < seen.index(ids[1]) < seen.index(ids[0])
    assert len(seen) == len(set(seen))
    doomed = await gateway.start_run(
        workflow({"name": "doomed", "steps": [step("boom", "fail", {"code": "INTERNAL"})]})
    )
    await gateway.events(doomed.run_id)
    failed = await gateway.stub.ListRuns(pb.ListRunsRequest(state=run_pb2.RUN_STATE_FAILED, page_size=500))
    assert doomed.run_id in [r.run_id for r in failed.runs]
    assert all(r.state == run_pb2.RUN_STATE_FAILED for r in failed.runs)
    assert not set(ids) & {r.run_id for r in failed.runs}


async def test_unknown_runs_and_workflows_are_not_found(gateway: Gateway) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.get_run("no-such-run")
    assert details_of(caught.value).reason == "RUN_NOT_FOUND"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.events("no-such-run")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.start_run("no-such-workflow")
    assert (caught.value.code(), details_of(caught.value).reason) == (
        grpc.StatusCode.NOT_FOUND,
        "WORKFLOW_NOT_FOUND",
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.ListRuns(pb.ListRunsRequest(page_token="garbage"))
    assert [v.field for v in details_of(caught.value).violations] == ["page_token"]


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
    interval = duration_pb2.Duration()
    interval.FromTimedelta(timedelta(seconds=0.2))
    call = gateway.stub.WatchMetrics(pb.WatchMetricsRequest(interval=interval))
    first, second = await call.read(), await call.read()
    call.cancel()
    assert isinstance(first, pb.WatchMetricsResponse) and isinstance(second, pb.WatchMetricsResponse)
    assert second.metrics.time.ToDatetime() > first.metrics.time.ToDatetime()
    assert first.metrics.workflows_executed > 0
    interval.FromTimedelta(timedelta(seconds=0.01))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.WatchMetrics(pb.WatchMetricsRequest(interval=interval)).read()
    assert [v.field for v in details_of(caught.value).violations] == ["interval"]


async def test_chat_keeps_session_history_and_rejects_empty_messages(gateway: Gateway) -> None:
    first = await gateway.stub.Chat(pb.ChatRequest(message="Hello there"))
    second = await gateway.stub.Chat(pb.ChatRequest(message="Again", session_id=first.session_id))
    assert second.session_id == first.session_id and first.tokens_used > 0
    assert "you sent 1 message(s)" in second.response
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await gateway.stub.Chat(pb.ChatRequest(message="  "))
    assert [v.field for v in details_of(caught.value).violations] == ["message"]
