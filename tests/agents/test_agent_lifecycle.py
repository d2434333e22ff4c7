"""Standalone agent processes: deadlines, graceful shutdown, start-up paths and bad command lines.

Every runtime's agents behave alike here (the Python runtime, the Go and TypeScript kits), so the behaviour
tests run once per runtime, against a shipped agent written with it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import grpc
import pytest

from agentmesh import health
from agentmesh.health import wait_serving
from agentmesh.messages import Message
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from agentmesh_cli.process import ServerProcess, StartFailed
from agentmesh_services import AGENTS, python_agents
from tests.conftest import logged_soon, running_agent
from tests.support.mesh import run_cli
from tests.support.samples import SAMPLES

PLAN = {"topic": "Benefits of open source", "depth": "quick", "max_subtopics": 2}
# One shipped agent per language the mesh is written in.
ONE_PER_RUNTIME = {"python": "researcher", "go": "trend-scanner", "node": "video-scriptor"}
RUNTIMES = pytest.mark.parametrize("name", list(ONE_PER_RUNTIME.values()), ids=list(ONE_PER_RUNTIME))


def test_one_per_runtime_names_agents_in_those_runtimes() -> None:
    assert AGENTS["researcher"].module is not None
    assert AGENTS["trend-scanner"].command == ("bin/trend-scanner",)
    assert AGENTS["video-scriptor"].command[0] == "node"


@RUNTIMES
async def test_a_passed_deadline_cancels_the_handler(name: str) -> None:
    # The offline model "thinks" for 5 s; the caller gives it 0.3 s.
    sample = SAMPLES[name]
    async with running_agent(name, env={"AGENTMESH_OFFLINE_LATENCY_MS": "5000"}) as agent:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await agent.invoke(sample.skill, sample.valid, timeout=0.3)
        # grpc-go resets the stream (RST_STREAM CANCEL) when its own copy of the deadline fires,
        # which a client whose timer is a moment behind (a loaded machine) reports as CANCELLED.
        expected = {grpc.StatusCode.DEADLINE_EXCEEDED}
        if name == "trend-scanner":
            expected.add(grpc.StatusCode.CANCELLED)
        assert caught.value.code() in expected
        cancelled = await logged_soon(agent.process, "rpc cancelled")
        assert cancelled[0]["method"] == "Invoke"
        assert cancelled[0]["cause"] == "deadline exceeded"


@RUNTIMES
async def test_sigterm_drains_in_flight_calls_then_exits_zero(name: str) -> None:
    sample = SAMPLES[name]
    async with running_agent(name, env={"AGENTMESH_OFFLINE_LATENCY_MS": "1500"}) as agent:
        statuses = health.watch(agent.channel)
        assert await anext(statuses) == health.SERVING
        in_flight = asyncio.create_task(agent.invoke(sample.skill, sample.valid))
        await asyncio.sleep(0.5)
        agent.process.signal(signal.SIGTERM)
        # Health turns NOT_SERVING first, so balancers stop sending work…
        assert await anext(statuses) == health.NOT_SERVING
        # …and the call that was already running still completes.
        reply = Message.from_proto((await in_flight).message)
        assert sample.check(reply.data)
        assert await agent.process.wait(15) == 0
        assert agent.process.logged("shutting down") and agent.process.logged("stopped")


@pytest.mark.parametrize("name", python_agents())
async def test_python_dash_m_serves_each_agent_standalone(name: str) -> None:
    module = AGENTS[name].module
    assert module is not None
    process = ServerProcess([sys.executable, "-m", module, "--host", "127.0.0.1", "--port", "0"])
    port = await process.start()
    try:
        await wait_serving(f"127.0.0.1:{port}")
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            card = await pb_grpc.AgentServiceStub(channel).GetAgentCard(pb.GetAgentCardRequest(), timeout=5)
        assert card.card.name == name
        assert process.logged("listening")[0]["address"] == f"127.0.0.1:{port}"
    finally:
        assert await process.stop() == 0


@RUNTIMES
async def test_a_busy_port_is_an_error_not_a_silent_second_server(name: str) -> None:
    async with running_agent("analyst") as first:
        second = ServerProcess.agent(name, port=first.process.port)
        with pytest.raises(StartFailed, match="exited with code 1 before listening"):
            await second.start()
        assert second.returncode == 1
        assert second.logged("cannot serve")


def test_an_unknown_agent_name_is_one_clear_line() -> None:
    result = run_cli("agent", "astrologer", timeout=30)
    assert result.returncode == 2
    assert "unknown agent 'astrologer'" in result.stderr
    assert "researcher" in result.stderr
    assert "Traceback" not in result.stderr


@RUNTIMES
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_call_outliving_the_grace_period_is_cancelled_and_the_exit_is_still_clean(
    name: str, signum: int
) -> None:
    sample = SAMPLES[name]
    args = [
        sys.executable,
        "-m",
        "agentmesh_cli",
        "agent",
        name,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
    ]
    process = ServerProcess(
        [*args, "--grace", "0.5"], env={**os.environ, "AGENTMESH_OFFLINE_LATENCY_MS": "30000"}
    )
    port = await process.start()
    await wait_serving(f"127.0.0.1:{port}")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        request = pb.InvokeRequest(skill=sample.skill, message=Message.request(sample.valid).to_proto())
        call = pb_grpc.AgentServiceStub(channel).Invoke(request, timeout=60)
        await asyncio.sleep(0.5)
        process.signal(signum)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
    assert caught.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert await process.wait(10) == 0
    assert process.logged("grace period over; cancelling calls")[0]["in_flight"] == 1


@RUNTIMES
async def test_an_oversized_message_is_refused_and_the_agent_stays_healthy(name: str) -> None:
    sample = SAMPLES[name]
    async with running_agent(name) as agent:
        huge = {**sample.valid, "padding": "word " * (4 * 1024 * 1024)}  # 20 MiB, over the 16 MiB limit
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await agent.invoke(sample.skill, huge)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await health.check(agent.channel) == health.SERVING


@RUNTIMES
async def test_a_burst_of_thousands_of_calls_is_served_not_shed(name: str) -> None:
    # grpc's defaults cancel a burst beyond 1,000-3,000 calls not yet picked up (a big for_each).
    async with running_agent(name) as agent:
        replies = await asyncio.gather(
            *(health.check(agent.channel, timeout=60) for _ in range(4000)), return_exceptions=True
        )
        failed = [reply for reply in replies if isinstance(reply, BaseException)]
        assert not failed, f"{len(failed)} of 4000 failed, first: {failed[0]!r}"
