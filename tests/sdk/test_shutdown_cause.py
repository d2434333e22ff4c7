"""A call cancelled because its server is stopping is logged as such, not as the caller leaving."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import grpc

from agentmesh.messages import Message
from agentmesh.server import Service
from agentmesh.status import rpc_errors
from agentmesh.v1 import agent_service_pb2 as pb
from agentmesh.v1 import agent_service_pb2_grpc as pb_grpc
from tests.support.rpc import AGENT_SERVICE, Context, agent_service, hosted, log_records

# The message every request must carry (it is REQUIRED); its content does not matter here.
HELLO = Message.request({}).to_proto()


def service(label: str) -> Service:
    """InvokeStream sends one chunk, then stays open until cancelled, as a watch does."""

    async def invoke_stream(
        request: pb.InvokeStreamRequest, context: Context
    ) -> AsyncIterator[pb.InvokeStreamResponse]:
        async with rpc_errors(context, label):
            yield pb.InvokeStreamResponse(chunk=pb.OutputChunk(index=0, text="open"))
            await asyncio.Event().wait()

    return agent_service(invoke_stream=invoke_stream)


async def opened(channel: grpc.aio.Channel) -> grpc.aio.UnaryStreamCall[Any, Any]:
    call = pb_grpc.AgentServiceStub(channel).InvokeStream(pb.InvokeStreamRequest(message=HELLO))
    first = await call.read()
    assert isinstance(first, pb.InvokeStreamResponse) and first.chunk.text == "open"
    return call


async def ended(call: grpc.aio.UnaryStreamCall[Any, Any]) -> bool:
    """Whether the call ended without a status of OK (what the server says, not its log)."""
    async with asyncio.timeout(10):
        return await call.code() != grpc.StatusCode.OK


async def cancel_causes(records: list[logging.LogRecord], count: int) -> dict[str, str]:
    """The cause of each "rpc cancelled" line by method, once `count` of them are logged."""
    async with asyncio.timeout(10):
        while len(lines := [r for r in records if r.getMessage() == "rpc cancelled"]) < count:
            await asyncio.sleep(0.01)
    return {line.__dict__["method"]: line.__dict__["cause"] for line in lines}


async def test_a_stopping_server_says_it_cancelled_the_open_calls_and_only_its_own() -> None:
    subscription = f"{AGENT_SERVICE}/InvokeStream"
    with log_records("agentmesh.rpc") as records:
        async with (
            hosted([service("stopped")], subscriptions=[subscription]) as stopped,
            hosted([service("left")], subscriptions=[subscription]) as left,
        ):
            stopping_call = await opened(stopped.channel)
            leaving_call = await opened(left.channel)
            await stopped.host.stop(grace=0.1)
            assert await cancel_causes(records, 1) == {"stopped": "server shutting down"}
            # The other host in this process is not stopping: its caller leaving is just that.
            leaving_call.cancel()
            assert await cancel_causes(records, 2) == {
                "stopped": "server shutting down",
                "left": "cancelled by the caller",
            }
            assert await ended(stopping_call)


async def test_calls_still_running_when_the_grace_runs_out_are_cancelled_by_the_server() -> None:
    with log_records("agentmesh.rpc") as records:
        async with hosted([service("tracked")]) as server:
            call = await opened(server.channel)
            await server.host.stop(grace=0.1)
            assert await cancel_causes(records, 1) == {"tracked": "server shutting down"}
            assert await ended(call)
