"""The server streams over HTTP: server-sent events (and NDJSON on request) for WatchRun,
RunWorkflow, WatchMetrics and ChatStream; resuming with Last-Event-ID or ?after= without a gap or
a repeat, heartbeats, a finished run replayed, and a stream resumed across a kill -9 of the
gateway. Every event's data is checked against the OpenAPI document's schema."""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentmesh.errors import ResourceExhausted
from agentmesh_cli.process import ServerProcess
from tests.support.rest import Contract, SseEvent, collect_sse, read_sse, rest_gateway

EVENTS = "/v1/runs/{run_id}/events"


async def start(http: httpx.AsyncClient, workflow: str, inputs: dict[str, Any]) -> str:
    response = await http.post("/v1/runs", json={"workflowName": workflow, "inputs": inputs})
    assert response.status_code == 200, response.text
    run_id: str = response.json()["run"]["runId"]
    return run_id


def check_events(events: list[SseEvent], contract: Contract, first: int = 1) -> None:
    """Numbered first, first + 1, … without a gap; each `event:` the kind its data holds."""
    assert [int(e.id or 0) for e in events] == list(range(first, first + len(events)))
    for event in events:
        data = event.json()
        contract.check(contract.response_schema(EVENTS, "get"), data)
        assert event.event in data["event"] and data["event"]["sequence"] == event.id


async def test_a_run_is_followed_to_its_end(http: httpx.AsyncClient, contract: Contract) -> None:
    run_id = await start(http, "slow-greeting", {"who": "follow"})
    stream = await collect_sse(http, "GET", f"/v1/runs/{run_id}/events")
    assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-store"
    check_events(stream.events, contract)
    assert stream.events[0].event == "runStarted" and stream.events[-1].event == "runCompleted"
    assert stream.events[-1].json()["event"]["runCompleted"]["outputs"] == {"said": "follow"}


async def test_a_dropped_stream_resumes_without_a_gap_or_a_repeat(
    http: httpx.AsyncClient, contract: Contract
) -> None:
    run_id = await start(http, "slow-greeting", {"who": "resume", "ms": 1500})
    path = f"/v1/runs/{run_id}/events"
    head = await collect_sse(http, "GET", path, stop_after=2)  # then the connection drops
    last = head.events[-1].id
    assert last == "2"
    by_header = await collect_sse(http, "GET", path, headers={"Last-Event-ID": last})
    by_query = await collect_sse(http, "GET", f"{path}?after={last}")
    by_name = await collect_sse(http, "GET", f"{path}?afterSequence=5")
    # A reconnecting EventSource keeps its URL's ?after= and sends Last-Event-ID: the header wins.
    both = await collect_sse(http, "GET", f"{path}?after=1", headers={"Last-Event-ID": "6"})
    whole = await collect_sse(http, "GET", path)
    check_events(whole.events, contract)
    assert [e.data for e in head.events + by_header.events] == [e.data for e in whole.events]
    assert [e.data for e in by_query.events] == [e.data for e in by_header.events]
    assert [e.id for e in by_name.events] == [e.id for e in whole.events[5:]]
    assert [e.id for e in both.events] == [e.id for e in whole.events[6:]]
    bad = await collect_sse(http, "GET", path, headers={"Last-Event-ID": "yesterday"})
    assert bad.status == 400 and json.loads(bad.events[0].data)["violations"][0]["field"] == "Last-Event-ID"


async def test_heartbeats_keep_a_quiet_stream_open_until_it_goes_on(
    http: httpx.AsyncClient, contract: Contract
) -> None:
    run_id = await start(http, "asking", {"key": uuid.uuid4().hex[:8]})
    seen: list[SseEvent] = []
    heartbeats = 0
    async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
        async for item in read_sse(response):
            if item is None:
                heartbeats += 1
                if heartbeats == 2:  # quiet while it waits: now answer, and the stream goes on
                    answer = {"stepId": "pick", "answer": {"parts": [{"data": {"choice": 1}}]}}
                    provided = await http.post(f"/v1/runs/{run_id}:provideInput", json=answer)
                    assert provided.status_code == 200, provided.text
                continue
            seen.append(item)
    assert heartbeats >= 2
    check_events(seen, contract)
    kinds = [e.event for e in seen]
    assert kinds[-1] == "runCompleted" and kinds.index("runWaiting") < kinds.index("stepInputProvided")


async def test_a_finished_run_is_replayed_and_the_stream_closes(
    http: httpx.AsyncClient, contract: Contract
) -> None:
    run_id = await start(http, "slow-greeting", {"who": "replay"})
    first = await collect_sse(http, "GET", f"/v1/runs/{run_id}/events")
    again = await collect_sse(http, "GET", f"/v1/runs/{run_id}/events")
    assert [e.data for e in again.events] == [e.data for e in first.events]
    past_the_end = await collect_sse(
        http, "GET", f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "99"}
    )
    assert past_the_end.status == 200 and past_the_end.events == []


async def test_run_workflow_streams_a_new_run(http: httpx.AsyncClient, contract: Contract) -> None:
    body = {"workflowName": "slow-greeting", "inputs": {"who": "streamed"}}
    stream = await collect_sse(http, "POST", "/v1/runs:stream", json=body)
    check_events(stream.events, contract)
    assert stream.events[-1].event == "runCompleted"
    refused = await collect_sse(http, "POST", "/v1/runs:stream", json={"workflowName": "nothing"})
    assert refused.status == 404  # refused before it opened: an HTTP status, not an event


async def test_metrics_and_chat_stream(http: httpx.AsyncClient, contract: Contract) -> None:
    metrics = await collect_sse(http, "GET", "/v1/metrics:watch?interval=0.1s", stop_after=2)
    assert [e.event for e in metrics.events] == ["metrics", "metrics"]
    for event in metrics.events:
        contract.check(contract.response_schema("/v1/metrics:watch", "get"), event.json())
    too_often = await collect_sse(http, "GET", "/v1/metrics:watch?interval=0.01s")
    assert too_often.status == 400
    chat = await collect_sse(
        http, "POST", "/v1/chat:stream", json={"message": "Tell me about edge computing"}
    )
    kinds = [e.event for e in chat.events]
    assert kinds[-1] == "result" and set(kinds[:-1]) == {"text"}
    for event in chat.events:
        contract.check(contract.response_schema("/v1/chat:stream", "post"), event.json())
    text = "".join(e.json()["text"] for e in chat.events[:-1])
    assert text == chat.events[-1].json()["result"]["response"]


async def test_newline_delimited_json_on_request(http: httpx.AsyncClient, contract: Contract) -> None:
    run_id = await start(http, "slow-greeting", {"who": "lines"})
    response = await http.get(f"/v1/runs/{run_id}/events", headers={"Accept": "application/x-ndjson"})
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines() if line]
    assert [int(line["event"]["sequence"]) for line in lines] == list(range(1, len(lines) + 1))
    assert "runCompleted" in lines[-1]["event"]


async def test_unknown_runs_are_404_before_any_stream_opens(http: httpx.AsyncClient) -> None:
    stream = await collect_sse(http, "GET", f"/v1/runs/{'0' * 32}/events")
    assert stream.status == 404
    assert json.loads(stream.events[0].data)["reason"] == "RUN_NOT_FOUND"


@pytest.mark.slow
async def test_a_stream_resumes_across_a_kill_9_of_the_gateway(tmp_path: Path) -> None:
    async with rest_gateway(tmp_path) as first:
        async with first.http() as http:
            run_id = await start(http, "slow-greeting", {"who": "survivor", "ms": 3000})
            head = await collect_sse(http, "GET", f"/v1/runs/{run_id}/events", stop_after=4)
        await first.process.kill()
        # The same store, the same agent: the run resumes, and so does its stream.
        restarted = ServerProcess(first.process.args, first.process.env, name="gateway")
        await restarted.start()
        try:
            url = f"http://127.0.0.1:{restarted.logged('http listening')[0]['port']}"
            async with httpx.AsyncClient(base_url=url, timeout=60) as http:
                resumed = await collect_sse(
                    http,
                    "GET",
                    f"/v1/runs/{run_id}/events",
                    headers={"Last-Event-ID": head.events[-1].id or ""},
                )
                whole = await collect_sse(http, "GET", f"/v1/runs/{run_id}/events")
        finally:
            await restarted.stop()
    # As JSON: a Struct's keys may come in another order from another process.
    assert [e.json() for e in head.events + resumed.events] == [e.json() for e in whole.events]
    assert [int(e.id or 0) for e in whole.events] == list(range(1, len(whole.events) + 1))
    assert whole.events[-1].event == "runCompleted"
    assert "runResumed" in [e.event for e in resumed.events]


async def test_streams_end_when_the_gateway_stops(tmp_path: Path) -> None:
    async with rest_gateway(tmp_path) as gateway, gateway.http() as http:
        run_id = await start(http, "asking", {"key": "left-waiting"})
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as response:
            events = read_sse(response)
            while await anext(events) is None:  # heartbeats until the first event
                pass
            gateway.process.signal(
                signal.SIGTERM
            )  # SIGTERM: the stream ends cleanly; its client resumes elsewhere
            rest = [item async for item in events if item is not None]
        assert await gateway.process.wait(30) == 0
    assert all(event.event != "error" for event in rest)


async def test_sse_and_grpc_watchers_share_the_gateways_admission_limit(tmp_path: Path) -> None:
    async with rest_gateway(tmp_path, ["--max-watchers", "1"]) as gateway, gateway.http() as http:
        run_id = await start(http, "asking", {"key": "watched"})
        async with http.stream("GET", f"/v1/runs/{run_id}/events") as watching:
            assert watching.status_code == 200  # the one watcher's place is this stream's
            full = await http.get(f"/v1/runs/{run_id}/events")
            assert full.status_code == 429 and full.json()["reason"] == "GATEWAY_AT_CAPACITY"
            assert full.headers["retry-after"] == "1"
            async with gateway.mesh() as mesh:
                with pytest.raises(ResourceExhausted):
                    async for _ in mesh.handle(run_id).events():
                        pass
        # Closed, the stream gives its place back (the gateway notices the client gone).
        async with asyncio.timeout(30):
            while True:
                async with http.stream("GET", f"/v1/runs/{run_id}/events") as again:
                    if again.status_code == 200:
                        break
                await asyncio.sleep(0.1)
