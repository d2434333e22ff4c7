"""No single accepted request may hold the gateway's event loop for more than 100 ms.

The gateway runs as its own process with its metrics port on; its event loop's lag (how late
a timer due every 25 ms is woken, `agentmesh_event_loop_lag_seconds`) is read from there after
the largest fan-out allowed has been started, run and followed to its end by a client.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agentmesh.client import Client
from agentmesh_gateway.limits import MAX_FOR_EACH_ITEMS
from tests.support.mesh import gateway_process, start_probe, step, workflow
from tests.support.scrape import metrics_port, scrape, value

pytestmark = pytest.mark.slow

#: The longest the loop may go without running other work: a bucket bound of the histogram.
MAX_STALL = "0.1"


async def test_the_largest_fan_out_never_holds_the_loop(tmp_path: Path) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    gateway = gateway_process(tmp_path / "store.db", {"probe": [probe.port]}, ["--metrics-port", "0"])
    await gateway.start()
    try:
        widest = f"${{[0] * {MAX_FOR_EACH_ITEMS}}}"
        flow = workflow({"name": "widest", "steps": [step("each", "echo", {"key": "w"}, for_each=widest)]})
        async with await Client.connect(f"127.0.0.1:{gateway.port}") as client, asyncio.timeout(300):
            handle = await client.start(flow)
            events = [event async for event in handle.events()]
            run = await handle.result()
        families = await scrape(metrics_port(gateway))
    finally:
        await gateway.stop()
        await probe.stop()
    assert run.proto.steps[0].items_done == MAX_FOR_EACH_ITEMS
    assert len(events) > 2 * MAX_FOR_EACH_ITEMS  # each item started and completed, all followed
    samples = value(families, "agentmesh_event_loop_lag_seconds_count")
    within = value(families, "agentmesh_event_loop_lag_seconds_bucket", le=MAX_STALL)
    assert samples > 40, "the lag was sampled all along (every 25 ms)"
    slowest = sorted(
        float(s.labels["le"])
        for s in families["agentmesh_event_loop_lag_seconds"]
        if s.name.endswith("_bucket") and s.value == samples
    )[0]
    assert within == samples, f"the loop was held longer than {MAX_STALL}s (up to {slowest}s)"
