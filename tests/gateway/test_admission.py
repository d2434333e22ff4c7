"""Admission control: runs in flight and watchers bounded per gateway; beyond them, RESOURCE_EXHAUSTED
with RetryInfo, nothing stored, and every run accepted still completes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from agentmesh.client import Client, RunState
from agentmesh.errors import ResourceExhausted
from agentmesh.v1 import orchestrator_service_pb2 as pb
from tests.support.certs import health_over
from tests.support.mesh import gateway_process, start_probe, step, workflow

SLOW = workflow({"name": "slow", "steps": [step("a", "echo", {"key": "slow", "ms": 1500})]})


async def count_runs(client: Client) -> int:
    return len([run async for run in client.list_runs()])


@pytest.mark.slow
async def test_runs_beyond_the_bound_are_refused_with_a_retry_delay_and_none_is_lost(tmp_path: Path) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    gateway = gateway_process(tmp_path / "runs.db", {"probe": [probe.port]}, ["--max-runs", "2"])
    await gateway.start()
    try:
        target = f"127.0.0.1:{gateway.port}"
        async with await Client.connect(target) as client:
            accepted = [await client.start(SLOW, request_id=f"r{i}") for i in range(2)]
            with pytest.raises(ResourceExhausted) as refused:
                await client.start(SLOW, request_id="r2")
            assert refused.value.retry_delay == 1.0
            assert refused.value.reason == "GATEWAY_AT_CAPACITY"
            assert refused.value.metadata == {"limit": "runs_in_flight", "max": "2"}
            assert await count_runs(client) == 2  # nothing stored for the refused start
            assert await health_over(target, None) == "SERVING"
            # The client does as told: waits, and retries with the same request_id.
            while True:
                await asyncio.sleep(refused.value.retry_delay or 1.0)
                try:
                    late = await client.start(SLOW, request_id="r2")
                    break
                except ResourceExhausted:
                    continue
            finished = [await handle.result() for handle in [*accepted, late]]
            assert [run.state for run in finished] == [RunState.SUCCEEDED] * 3
            assert await count_runs(client) == 3
    finally:
        await gateway.stop()
        await probe.stop()


async def test_watchers_beyond_the_bound_are_refused_and_a_refused_stream_starts_no_run(
    tmp_path: Path,
) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    gateway = gateway_process(tmp_path / "runs.db", {"probe": [probe.port]}, ["--max-watchers", "2"])
    await gateway.start()
    try:
        async with await Client.connect(f"127.0.0.1:{gateway.port}") as client:
            run = await client.start(SLOW)
            watches = [client.stub.WatchRun(pb.WatchRunRequest(run_id=run.run_id)) for _ in range(2)]
            for watch in watches:
                await watch.read()  # each is being served
            third = client.stub.WatchRun(pb.WatchRunRequest(run_id=run.run_id))
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await third.read()
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            stream = client.stub.RunWorkflow(pb.RunWorkflowRequest(workflow=SLOW))
            with pytest.raises(grpc.aio.AioRpcError) as refused_stream:
                await stream.read()
            assert refused_stream.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert await count_runs(client) == 1
            watches[0].cancel()
            codes = []
            async with asyncio.timeout(10):
                while True:  # the cancelled stream's place is freed once the gateway sees it go
                    again = client.stub.WatchRun(pb.WatchRunRequest(run_id=run.run_id))
                    try:
                        await again.read()
                        break
                    except grpc.aio.AioRpcError as exc:
                        codes.append(exc.code())
                        await asyncio.sleep(0.05)
            assert set(codes) <= {grpc.StatusCode.RESOURCE_EXHAUSTED}
            again.cancel()
            watches[1].cancel()
            async with asyncio.timeout(10):
                while (await run.get()).state != RunState.SUCCEEDED:
                    await asyncio.sleep(0.1)
    finally:
        await gateway.stop()
        await probe.stop()
