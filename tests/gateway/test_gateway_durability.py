"""The gateway killed mid-run (on SQLite and on PostgreSQL), agents going away and coming back,
replicas sharing load."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest

from agentmesh.client import ReplicaHealth
from agentmesh.messages import struct_to_dict
from agentmesh.v1 import run_pb2
from tests.support.mesh import kinds, probe_log, running_gateway, start_probe, step, workflow

CHAIN = workflow(
    {
        "name": "chain",
        "steps": [
            {
                "id": f"s{i}",
                "agent": "probe",
                "skill": "echo",
                "input": {"key": f"s{i}", "ms": 400},
                "dependencies": [f"s{i - 1}"] if i else [],
            }
            for i in range(4)
        ],
    }
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_kill_9_mid_run_then_restart_completes_the_run_without_reinvoking_completed_steps(
    tmp_path: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    store = (
        str(tmp_path / "gateway.db") if backend == "sqlite" else request.getfixturevalue("postgres_database")
    )
    try:
        async with running_gateway(store, {"probe": [probe.port]}) as first:
            assert first.process.logged("listening")[0]["store"] == store
            run = await first.start_run(CHAIN)
            await first.wait_for(run.run_id, "step_started", step_id="s1")
            while not [r for r in probe_log(log) if r["key"] == "s1"]:
                await asyncio.sleep(0.01)
            await first.process.kill()  # kill -9 while the agent is working on s1
        async with running_gateway(store, {"probe": [probe.port]}) as second:
            events = await second.events(run.run_id)
            finished = await second.get_run(run.run_id)
            metrics = await second.client.metrics()
    finally:
        await probe.stop()
    assert finished.state == run_pb2.RUN_STATE_SUCCEEDED
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert "run_resumed" in kinds(events), kinds(events)
    resumed = next(e for e in events if e.HasField("run_resumed"))
    assert list(resumed.run_resumed.redispatched_step_ids) == ["s1"]
    started = Counter(r["key"] for r in probe_log(log) if r["event"] == "started")
    # s0 had completed before the kill: never invoked again. s1 was in flight: dispatched again,
    # with the same idempotency key. s2 and s3 ran once, after the restart.
    assert started == {"s0": 1, "s1": 2, "s2": 1, "s3": 1}
    keys = {r["idempotency_key"] for r in probe_log(log) if r["key"] == "s1" and r["event"] == "started"}
    assert keys == {f"{run.run_id}/s1/-/1"}
    assert struct_to_dict(finished.outputs) == {"s3": {"key": "s3", "value": None}}
    # Metrics live in the store: the calls the first gateway made are still counted.
    assert (metrics.workflows_executed, metrics.workflows_succeeded) == (1, 1)
    assert metrics.agents[0].agent == "probe"
    assert metrics.agents[0].successes >= 4


@pytest.mark.slow
async def test_a_step_waits_for_an_agent_that_went_away_and_runs_when_it_is_back(tmp_path: Path) -> None:
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    port = probe.port
    async with running_gateway(tmp_path / "gateway.db", {"probe": [port]}) as gateway:
        await probe.stop()  # NOT_SERVING, then gone
        await gateway.agents_when(lambda agents: agents[0].replicas[0].health != ReplicaHealth.SERVING)
        flow = workflow(
            {"name": "patient", "steps": [step("wait", "echo", {"key": "patient"}, timeout="30s")]}
        )
        run = await gateway.start_run(flow)
        await asyncio.sleep(1.0)
        assert (await gateway.get_run(run.run_id)).state == run_pb2.RUN_STATE_RUNNING
        back = await start_probe(log, port=port)
        try:
            events = await gateway.events(run.run_id, timeout=30)
        finally:
            await back.stop()
    assert kinds(events)[-1] == "run_completed"
    assert "step_retrying" not in kinds(events)  # it waited; it did not fail and retry


async def test_replicas_share_the_calls_round_robin(tmp_path: Path) -> None:
    log = tmp_path / "probe.jsonl"
    replicas = [await start_probe(log, label="a"), await start_probe(log, label="b")]
    try:
        async with running_gateway(tmp_path / "gateway.db", {"probe": [p.port for p in replicas]}) as gateway:
            agents = await gateway.agents_when(
                lambda agents: sum(r.health == ReplicaHealth.SERVING for r in agents[0].replicas) == 2
            )
            each = step("each", "echo", {"key": "spread-${index}"}, for_each="${[1, 2, 3, 4, 5, 6]}")
            flow = workflow({"name": "spread", "steps": [each]})
            run = await gateway.start_run(flow)
            await gateway.events(run.run_id)
            assert agents[0].card is not None and agents[0].card.name == "probe"
    finally:
        for replica in replicas:
            await replica.stop()
    served = Counter(r["replica"] for r in probe_log(log) if r["event"] == "started")
    assert served == {"a": 3, "b": 3}


async def test_a_dns_target_balances_over_what_the_name_resolves_to(tmp_path: Path) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    try:
        target = f"probe=dns:///localhost:{probe.port}"
        async with running_gateway(tmp_path / "gateway.db", {}, ["--agent", target]) as gateway:
            flow = workflow(
                {
                    "name": "dns",
                    "steps": [
                        {
                            "id": "via-dns",
                            "agent": "probe",
                            "skill": "echo",
                            "input": {"key": "dns"},
                            "timeout": "20s",
                        }
                    ],
                }
            )
            run = await gateway.start_run(flow)
            events = await gateway.events(run.run_id)
            agents = await gateway.client.list_agents()
    finally:
        await probe.stop()
    assert kinds(events)[-1] == "run_completed"
    assert agents[0].replicas[0].address == f"dns:///localhost:{probe.port}"
