"""Standalone agent processes: deadlines, graceful shutdown, start-up paths and bad command lines."""

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

PLAN = {"topic": "Benefits of open source", "depth": "quick", "max_subtopics": 2}


async def test_a_passed_deadline_cancels_the_handler() -> None:
    # The offline model "thinks" for 5 s; the caller gives it 0.3 s.
    async with running_agent("researcher", env={"AGENTMESH_OFFLINE_LATENCY_MS": "5000"}) as agent:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await agent.invoke("plan", PLAN, timeout=0.3)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        cancelled = await logged_soon(agent.process, "rpc cancelled")
        assert cancelled[0]["method"] == "Invoke"
        assert cancelled[0]["cause"] == "deadline exceeded"


async def test_sigterm_drains_in_flight_calls_then_exits_zero() -> None:
    async with running_agent("researcher", env={"AGENTMESH_OFFLINE_LATENCY_MS": "1500"}) as agent:
        statuses = health.watch(agent.channel)
        assert await anext(statuses) == health.SERVING
        in_flight = asyncio.create_task(agent.invoke("plan", PLAN))
        await asyncio.sleep(0.5)
        agent.process.signal(signal.SIGTERM)
        # Health turns NOT_SERVING first, so balancers stop sending work…
        assert await anext(statuses) == health.NOT_SERVING
        # …and the call that was already running still completes.
        reply = Message.from_proto((await in_flight).message)
        assert len(reply.data["subtopics"]) == 2
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


async def test_a_busy_port_is_an_error_not_a_silent_second_server() -> None:
    async with running_agent("analyst") as first:
        second = ServerProcess.agent("writer", port=first.process.port)
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


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_call_outliving_the_grace_period_is_cancelled_and_the_exit_is_still_clean(
    signum: int,
) -> None:
    args = [
        sys.executable,
        "-m",
        "agentmesh_cli",
        "agent",
        "researcher",
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
        request = pb.InvokeRequest(skill="plan", message=Message.request(PLAN).to_proto())
        call = pb_grpc.AgentServiceStub(channel).Invoke(request, timeout=60)
        await asyncio.sleep(0.5)
        process.signal(signum)
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
    assert caught.value.code() in (grpc.StatusCode.CANCELLED, grpc.StatusCode.UNAVAILABLE)
    assert await process.wait(10) == 0
    assert process.logged("grace period over; cancelling calls")[0]["in_flight"] == 1


async def test_an_oversized_message_is_refused_and_the_agent_stays_healthy() -> None:
    async with running_agent("critic") as agent:
        huge = {"report": "# Big\n" + "word " * (4 * 1024 * 1024)}  # 20 MiB, over the 16 MiB limit
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await agent.invoke("review", huge)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert await health.check(agent.channel) == health.SERVING


async def test_a_burst_of_thousands_of_calls_is_served_not_shed() -> None:
    # grpc's defaults cancel a burst beyond 1,000-3,000 calls not yet picked up (a big for_each).
    async with running_agent("researcher") as agent:
        replies = await asyncio.gather(
            *(health.check(agent.channel, timeout=60) for _ in range(4000)), return_exceptions=True
        )
        failed = [reply for reply in replies if isinstance(reply, BaseException)]
        assert not failed, f"{len(failed)} of 4000 failed, first: {failed[0]!r}"
