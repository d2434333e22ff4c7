"""p10 and p11: a run's events over server-sent events (the HTTP port) against the same events over
gRPC WatchRun, on one gateway, in the same run.

Both sides are read by lean clients, so that what is compared is the gateway's: gRPC with the
generated stub (upb decodes each WatchRunResponse; no conversion to the client's typed events),
SSE with a minimal asyncio reader that undoes the chunked encoding and takes each frame's
`eventTime` with a regular expression (no JSON parsing). Latency is receipt time minus the
event's `event_time`, as in p5, for events recorded after every subscriber had its first event.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import orchestrator_service_pb2_grpc as pb_grpc
from bench.capacity import WATCH_CHANNELS

#: The event's own time: the first eventTime of a frame (RunEvent's field 3, before any nested one).
_EVENT_TIME = re.compile(rb'"eventTime":"([^"]+)"')
Arrivals = list[tuple[int, int]]  # (recorded, received), ns since the epoch


def _nanoseconds(text: bytes) -> int:
    stamp = Timestamp()
    stamp.FromJsonString(text.decode())
    return stamp.ToNanoseconds()


async def sse_arrivals(port: int, run_id: str) -> Arrivals:
    """Follow a run's events over SSE to its end; when each arrived."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"GET /v1/runs/{run_id}/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    writer.write(f"{head}Accept: text/event-stream\r\n\r\n".encode())
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"SSE refused: {status!r}")
    while await reader.readline() != b"\r\n":
        pass  # headers: chunked, as uvicorn sends a stream
    seen: list[tuple[bytes, int]] = []
    try:
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            chunk = await reader.readexactly(size + 2)
            found = _EVENT_TIME.search(chunk)
            if found is not None:  # not a heartbeat
                seen.append((found.group(1), time.time_ns()))
    finally:
        writer.close()
    return [(_nanoseconds(recorded), received) for recorded, received in seen]


async def grpc_arrivals(channel: grpc.aio.Channel, run_id: str) -> Arrivals:
    """Follow a run's events over gRPC WatchRun to its end; when each arrived."""
    seen: Arrivals = []
    async for response in pb_grpc.OrchestratorServiceStub(channel).WatchRun(
        pb.WatchRunRequest(run_id=run_id)
    ):
        seen.append((response.event.event_time.ToNanoseconds(), time.time_ns()))
        if response.event.WhichOneof("event") in ("run_completed", "run_failed", "run_cancelled"):
            break
    return seen


def attached_at(followers: list[Arrivals]) -> int:
    """When the last follower had its first event: events recorded later reached all of them live."""
    return max(seen[0][1] for seen in followers)


def since(followers: list[Arrivals], attached: int) -> list[float]:
    """Milliseconds from recording to receipt of the events recorded after `attached`."""
    found = [
        (received - recorded) / 1e6
        for seen in followers
        for recorded, received in seen
        if recorded > attached
    ]
    if not found:
        raise RuntimeError("no event was recorded after every follower attached; lengthen the settle step")
    return found


async def side_by_side(
    target: str, port: int, start: Callable[[], Awaitable[str]]
) -> tuple[list[float], list[float]]:
    """p10: one gRPC and one SSE follower of the same run; the latencies of each."""
    run_id = await start()
    async with grpc.aio.insecure_channel(target) as channel:
        over_grpc, over_sse = await asyncio.gather(grpc_arrivals(channel, run_id), sse_arrivals(port, run_id))
    attached = attached_at([over_grpc, over_sse])
    return since([over_grpc], attached), since([over_sse], attached)


async def many(
    target: str, port: int, start: Callable[[], Awaitable[str]], subscribers: int, *, sse: bool
) -> list[float]:
    """p11: `subscribers` followers of one run, over SSE (a connection each) or gRPC (over
    WATCH_CHANNELS channels, as p5); their latencies."""
    run_id = await start()
    if sse:
        followed = list(await asyncio.gather(*(sse_arrivals(port, run_id) for _ in range(subscribers))))
        return since(followed, attached_at(followed))
    channels = [grpc.aio.insecure_channel(target) for _ in range(WATCH_CHANNELS)]
    try:
        followed = await asyncio.gather(
            *(grpc_arrivals(channels[i % WATCH_CHANNELS], run_id) for i in range(subscribers))
        )
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    return since(list(followed), attached_at(list(followed)))
