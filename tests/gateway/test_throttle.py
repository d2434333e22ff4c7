"""Per-agent limits in the gateway: concurrency, a token-bucket rate, FIFO order, shares among
replicas, and a waiter cancelled in the queue. Timings are asserted as bounds from the bucket's
arithmetic (a call never goes early), never as how soon something happens."""

from __future__ import annotations

import asyncio
import time

import pytest

from agentmesh_gateway.throttle import AgentLimits, Throttle, parse_rate


def test_rates_read_as_people_write_them() -> None:
    assert parse_rate("20/s") == 20
    assert parse_rate("120 / min") == 2
    assert parse_rate("3600/hour") == 1
    for bad in ("20", "0/s", "fast", "-1/s"):
        with pytest.raises(ValueError, match="is not a rate"):
            parse_rate(bad)


async def test_concurrency_is_bounded_and_waiters_go_first_come_first_served() -> None:
    throttle = Throttle(AgentLimits(max_concurrency=2))
    in_flight = 0
    most = 0
    order: list[int] = []
    waited: list[tuple[int, str]] = []
    release = asyncio.Event()

    async def call(n: int) -> None:
        nonlocal in_flight, most

        async def on_wait(limit: str) -> None:
            waited.append((n, limit))

        async with throttle.slot(on_wait):
            order.append(n)
            in_flight += 1
            most = max(most, in_flight)
            await release.wait()
            in_flight -= 1

    tasks = []
    for n in range(6):
        tasks.append(asyncio.create_task(call(n)))
        await asyncio.sleep(0)  # each asks in turn
    async with asyncio.timeout(10):
        while len(order) < 2:
            await asyncio.sleep(0.001)
    release.set()
    await asyncio.gather(*tasks)
    assert most == 2
    assert order == list(range(6))
    assert waited == [(n, "max_concurrency") for n in range(2, 6)]


async def test_the_rate_lets_a_burst_through_then_spaces_calls_out() -> None:
    throttle = Throttle(AgentLimits(rate=20.0, burst=3))  # 50 ms apart after the burst
    began = time.monotonic()
    admitted: list[float] = []

    async def call() -> None:
        async def on_wait(limit: str) -> None:
            assert limit == "rate"

        async with throttle.slot(on_wait):
            admitted.append(time.monotonic() - began)

    await asyncio.gather(*(call() for _ in range(7)))
    # After the 3 of the burst, call k goes no earlier than (k - 2) / 20 s after the start.
    for k, at in enumerate(sorted(admitted)):
        assert at >= max(0, k - 2) / 20 - 0.005


async def test_replicas_share_the_limits() -> None:
    throttle = Throttle(AgentLimits(max_concurrency=5))
    throttle.share(2)  # ceil(5 / 2) = 3 here
    holding = asyncio.Event()
    entered = 0

    async def call() -> None:
        nonlocal entered

        async def on_wait(limit: str) -> None:
            pass

        async with throttle.slot(on_wait):
            entered += 1
            await holding.wait()

    tasks = [asyncio.create_task(call()) for _ in range(5)]
    async with asyncio.timeout(10):
        while entered < 3:
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.05)
    assert entered == 3
    throttle.share(1)  # the other replica went away: the whole limit is this one's
    async with asyncio.timeout(10):
        while entered < 5:
            await asyncio.sleep(0.001)
    holding.set()
    await asyncio.gather(*tasks)


async def test_a_waiter_cancelled_in_the_queue_leaves_no_trace() -> None:
    throttle = Throttle(AgentLimits(max_concurrency=1))
    gate = asyncio.Event()
    done: list[str] = []

    async def call(name: str) -> None:
        async def on_wait(limit: str) -> None:
            pass

        async with throttle.slot(on_wait):
            await gate.wait()
            done.append(name)

    first = asyncio.create_task(call("first"))
    await asyncio.sleep(0.01)
    second = asyncio.create_task(call("second"))
    third = asyncio.create_task(call("third"))
    await asyncio.sleep(0.01)
    second.cancel()
    gate.set()
    await asyncio.gather(first, third)
    assert done == ["first", "third"] and second.cancelled()
