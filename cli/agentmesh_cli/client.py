"""Talking to a gateway from the command line: one channel, and errors as one line a person can act on."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc

from agentmesh.status import details_of
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc

DEFAULT_GATEWAY = os.environ.get("AGENTMESH_GATEWAY", "127.0.0.1:50051")


class CliError(Exception):
    """A failure to report as one line and a non-zero exit, never a traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@asynccontextmanager
async def gateway(address: str) -> AsyncIterator[pb_grpc.OrchestratorServiceAsyncStub]:
    async with grpc.aio.insecure_channel(address) as channel:
        try:
            yield pb_grpc.OrchestratorServiceStub(channel)
        except grpc.aio.AioRpcError as exc:
            raise describe(exc, address) from None


def describe(exc: grpc.aio.AioRpcError, address: str) -> CliError:
    details = details_of(exc)
    if exc.code() == grpc.StatusCode.UNAVAILABLE and details.domain != "agentmesh":
        return CliError(f"cannot reach the gateway at {address} (is `agentmesh up` running? try --gateway)")
    lines = [details.message or exc.code().name]
    lines += [f"  {v.field}: {v.description}" for v in details.violations]
    return CliError("\n".join(lines))
