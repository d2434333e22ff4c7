"""Every process's Prometheus endpoint, scraped and parsed: agents in three languages and the gateway
export the same gRPC series (go-grpc-prometheus's names), LLM tokens, and the gateway its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest

from agentmesh.client import Client
from agentmesh.messages import Message
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_cli.process import ServerProcess
from tests.support.mesh import gateway_process, start_probe, step, workflow
from tests.support.samples import SAMPLES
from tests.support.scrape import metrics_port, scrape, value

RUNTIMES = {"python": "researcher", "typescript": "video-scriptor", "go": "trend-scanner"}
SERVICE = "agentmesh.v1.AgentService"


@pytest.mark.parametrize("agent", RUNTIMES.values(), ids=RUNTIMES.keys())
async def test_an_agent_counts_its_calls_by_method_and_code_and_its_tokens(agent: str) -> None:
    process = ServerProcess.agent(agent, extra=["--metrics-port", "0"])
    await process.start()
    try:
        sample = SAMPLES[agent]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{process.port}") as channel:
            stub = pb_grpc.AgentServiceStub(channel)
            for data in (sample.valid, sample.valid, sample.invalid):
                request = pb.InvokeRequest(skill=sample.skill, message=Message.request(data).to_proto())
                with contextlib.suppress(grpc.aio.AioRpcError):  # the invalid one; counted below
                    await stub.Invoke(request, timeout=20)
        families = await scrape(metrics_port(process))
    finally:
        await process.stop()
    method = {"grpc_service": SERVICE, "grpc_method": "Invoke"}
    assert value(families, "grpc_server_started_total", **method) == 3
    assert value(families, "grpc_server_handled_total", grpc_code="OK", **method) == 2
    assert value(families, "grpc_server_handled_total", grpc_code="InvalidArgument", **method) == 1
    assert value(families, "grpc_server_handling_seconds_count", **method) == 3
    assert value(families, "grpc_server_handling_seconds_bucket", le="+Inf", **method) == 3
    tokens = value(families, "agentmesh_llm_tokens_total", provider="offline")
    assert tokens > 0, "the offline model reports the tokens it would have used"


FLAKY = workflow(
    {
        "name": "flaky",
        "steps": [
            step(
                "a",
                "flaky",
                {"key": "metrics-flaky", "succeed_on": 2},
                retry={"max_attempts": 3, "initial_delay": "0.01s"},
            ),
            step("b", "echo", {"key": "b", "tokens": 12}, dependencies=["a"]),
        ],
    }
)


async def test_the_gateway_exports_runs_steps_retries_watchers_and_store_commits(tmp_path: Path) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    gateway = gateway_process(tmp_path / "runs.db", {"probe": [probe.port]}, ["--metrics-port", "0"])
    gateway.env = dict(os.environ)
    await gateway.start()
    try:
        async with await Client.connect(f"127.0.0.1:{gateway.port}") as client:
            run = await (await client.start(FLAKY)).result()
            assert run.state.name == "SUCCEEDED"
            families = await scrape(metrics_port(gateway))
    finally:
        await gateway.stop()
        await probe.stop()
    assert value(families, "agentmesh_runs_started_total") == 1
    assert value(families, "agentmesh_runs_finished_total", state="succeeded") == 1
    assert value(families, "agentmesh_runs", state="succeeded") == 1
    assert value(families, "agentmesh_runs", state="running") == 0
    assert value(families, "agentmesh_runs_in_flight") == 0
    assert value(families, "agentmesh_step_duration_seconds_count", agent="probe", outcome="ok") == 2
    assert value(families, "agentmesh_step_duration_seconds_count", agent="probe", outcome="error") == 1
    assert value(families, "agentmesh_step_retries_total", agent="probe") == 1
    assert value(families, "agentmesh_store_commit_seconds_count") > 0
    assert "agentmesh_watchers" in families
    # Usage by model (the probe names none) and kind; cost at the gateway's prices (none set here).
    assert value(families, "agentmesh_run_tokens_total", model="", kind="input") == 12
    assert value(families, "agentmesh_run_cost_total", model="") == 0
    started = {"grpc_service": "agentmesh.v1.OrchestratorService", "grpc_method": "StartRun"}
    assert value(families, "grpc_server_handled_total", grpc_code="OK", **started) == 1


def http_status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("agent", RUNTIMES.values(), ids=RUNTIMES.keys())
async def test_the_metrics_port_answers_http_probes_and_readiness_ends_with_the_drain(agent: str) -> None:
    env = {**os.environ, "AGENTMESH_METRICS_PORT": "0", "AGENTMESH_OFFLINE_LATENCY_MS": "1500"}
    process = ServerProcess.agent(agent, env=env)
    await process.start()
    port = metrics_port(process)
    try:
        assert await asyncio.to_thread(http_status, port, "/healthz") == 200
        assert await asyncio.to_thread(http_status, port, "/readyz") == 200
        assert await asyncio.to_thread(http_status, port, "/nothing") == 404
        sample = SAMPLES[agent]
        async with grpc.aio.insecure_channel(f"127.0.0.1:{process.port}") as channel:
            request = pb.InvokeRequest(skill=sample.skill, message=Message.request(sample.valid).to_proto())
            call = asyncio.ensure_future(pb_grpc.AgentServiceStub(channel).Invoke(request, timeout=20))
            await asyncio.sleep(0.5)  # in flight
            process.signal(signal.SIGTERM)
            async with asyncio.timeout(5):
                while await asyncio.to_thread(http_status, port, "/readyz") != 503:
                    await asyncio.sleep(0.05)
            assert await asyncio.to_thread(http_status, port, "/healthz") == 200  # alive while it drains
            await call
    finally:
        assert await process.stop() == 0


async def test_the_event_loop_lag_shows_a_callback_that_holds_the_loop() -> None:
    from prometheus_client import REGISTRY

    from agentmesh.prometheus import follow_event_loop

    def counts() -> tuple[float, float]:
        name = "agentmesh_event_loop_lag_seconds"
        total = REGISTRY.get_sample_value(f"{name}_count") or 0.0
        quick = REGISTRY.get_sample_value(f"{name}_bucket", {"le": "0.1"}) or 0.0
        return total, quick

    total, quick = counts()
    follower = asyncio.create_task(follow_event_loop(0.01))
    await asyncio.sleep(0.05)
    time.sleep(0.15)  # noqa: ASYNC251 - the point: a callback that holds the loop for 150 ms
    await asyncio.sleep(0.05)
    follower.cancel()
    now_total, now_quick = counts()
    assert now_total - total >= 5
    assert (now_total - now_quick) - (total - quick) == 1, "exactly the one late wake-up is over 100 ms"
