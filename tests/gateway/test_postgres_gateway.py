"""The gateway on PostgreSQL (`--store postgresql://…`), killed mid-run and restarted: the run
completes, no completed step is invoked again, the one in flight is re-sent with its key."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from agentmesh.v1 import run_pb2
from tests.support.mesh import kinds, probe_log, running_gateway, start_probe, workflow

CHAIN = workflow(
    {
        "name": "chain",
        "steps": [
            {"id": f"s{i}", "agent": "probe", "skill": "echo", "input": {"key": f"s{i}", "ms": 400},
             "dependencies": [f"s{i - 1}"] if i else []}
            for i in range(4)
        ],
    }
)  # fmt: skip


async def test_kill_9_mid_run_then_restart_on_postgresql_completes_the_run_once(
    tmp_path: Path, postgres_database: str
) -> None:
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    try:
        async with running_gateway(postgres_database, {"probe": [probe.port]}) as first:
            assert first.process.logged("listening")[0]["store"] == postgres_database
            run = await first.start_run(CHAIN)
            await first.wait_for(run.run_id, "step_started", step_id="s1")
            while not [r for r in probe_log(log) if r["key"] == "s1"]:
                await asyncio.sleep(0.01)
            await first.process.kill()
        async with running_gateway(postgres_database, {"probe": [probe.port]}) as second:
            events = await second.events(run.run_id)
            finished = await second.get_run(run.run_id)
    finally:
        await probe.stop()
    assert finished.state == run_pb2.RUN_STATE_SUCCEEDED
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert "run_resumed" in kinds(events)
    started = Counter(r["key"] for r in probe_log(log) if r["event"] == "started")
    assert started == {"s0": 1, "s1": 2, "s2": 1, "s3": 1}
    keys = {r["idempotency_key"] for r in probe_log(log) if r["key"] == "s1" and r["event"] == "started"}
    assert keys == {f"{run.run_id}/s1/-/1"}
