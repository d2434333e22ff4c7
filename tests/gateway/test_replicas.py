"""Gateway replicas sharing one PostgreSQL database: runs started on one are watched, cancelled and
finished from another; a replica killed with SIGKILL is taken over, one stopped with SIGTERM hands
its runs over at once, and one paused past its lease (SIGSTOP) is taken over only then (it is
alive) and cannot write to a run another has taken over."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from agentmesh.client import Client, RunState
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_cli.process import ServerProcess
from tests.support.mesh import gateway_process, probe_log, start_probe, workflow

pytestmark = pytest.mark.slow

#: What a replica logs when it finds replicas whose process ended (their liveness lock is free).
ENDED = "replicas' processes ended; their runs are taken over"


def chain(name: str, steps: int, ms: int) -> workflow_pb2.Workflow:
    return workflow(
        {
            "name": name,
            "steps": [
                {"id": f"s{i}", "agent": "probe", "skill": "echo",
                 "input": {"key": f"${{inputs.key}}-s{i}", "ms": ms},
                 "dependencies": [f"s{i - 1}"] if i else []}
                for i in range(steps)
            ],
        }
    )  # fmt: skip


@asynccontextmanager
async def replicas(
    database: str, probe_port: int, count: int, lease: float
) -> AsyncIterator[list[tuple[ServerProcess, Client]]]:
    processes = [
        gateway_process(database, {"probe": [probe_port]}, ["--lease-seconds", str(lease)])
        for _ in range(count)
    ]
    await asyncio.gather(*(p.start() for p in processes))
    clients = [await Client.connect(f"127.0.0.1:{p.port}") for p in processes]
    try:
        yield list(zip(processes, clients, strict=True))
    finally:
        for client in clients:
            await client.close()
        for process in processes:
            if process.started and process.returncode is None:
                await process.stop()


async def events_of(client: Client, run_id: str) -> list[run_pb2.RunEvent]:
    async with asyncio.timeout(60):
        return [event.proto async for event in client.handle(run_id).events()]


def completed_once(events: Sequence[run_pb2.RunEvent], steps: int) -> None:
    done = Counter(e.step_completed.step_id for e in events if e.HasField("step_completed"))
    assert done == {f"s{i}": 1 for i in range(steps)}, done
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))


async def test_a_killed_replica_s_runs_are_taken_over_and_watched_from_another(
    tmp_path: Path, postgres_database: str
) -> None:
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    flow = chain("chain", 3, 600)
    try:
        async with replicas(postgres_database, probe.port, 2, lease=2) as [(a, on_a), (_, on_b)]:
            handles = [await on_a.start(flow, {"key": f"r{i}"}) for i in range(6)]
            # Watched from the replica that does not execute them, from the first event on.
            watching = [asyncio.create_task(events_of(on_b, h.run_id)) for h in handles]
            async with asyncio.timeout(20):
                while not any(r["event"] == "started" for r in probe_log(log)):
                    await asyncio.sleep(0.02)
            killed = time.monotonic()
            await a.kill()
            histories = await asyncio.gather(*watching)
            taken_over = time.monotonic() - killed
            runs = [await on_b.get_run(h.run_id) for h in handles]
    finally:
        await probe.stop()
    assert [r.state for r in runs] == [RunState.SUCCEEDED] * 6
    for events in histories:
        completed_once(events, 3)
    # A step is invoked twice only if it was in flight at the kill, and then with the same key.
    starts = Counter(r["idempotency_key"] for r in probe_log(log) if r["event"] == "started")
    assert all(count <= 2 for count in starts.values()), starts
    assert sum(count == 2 for count in starts.values()) <= 6  # at most one in flight per run
    assert taken_over < 30


async def test_sigterm_hands_runs_over_without_waiting_for_the_lease(
    tmp_path: Path, postgres_database: str
) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    try:
        # A lease of a minute: a takeover that waited for it would not finish within the timeout.
        async with replicas(postgres_database, probe.port, 2, lease=60) as [(a, on_a), (_, on_b)]:
            handle = await on_a.start(chain("long", 4, 500), {"key": "handover"})
            await asyncio.sleep(0.8)
            a.signal(signal.SIGTERM)
            async with asyncio.timeout(20):
                events = await events_of(on_b, handle.run_id)
            assert a.logged("handed runs over")
    finally:
        await probe.stop()
    completed_once(events, 4)
    assert any(e.HasField("run_resumed") for e in events)


async def test_cancel_on_another_replica_cancels_the_run_at_once(
    tmp_path: Path, postgres_database: str
) -> None:
    probe = await start_probe(tmp_path / "probe.jsonl")
    try:
        async with replicas(postgres_database, probe.port, 2, lease=60) as [(_, on_a), (_, on_b)]:
            handle = await on_a.start(chain("slow", 1, 30_000), {"key": "cancel"})
            await asyncio.sleep(0.5)
            await on_b.handle(handle.run_id).cancel("from b")
            async with asyncio.timeout(10):  # not the step's 30 s, nor the lease's 60
                events = await events_of(on_b, handle.run_id)
    finally:
        await probe.stop()
    assert events[-1].HasField("run_cancelled") and events[-1].run_cancelled.reason == "from b"


async def test_a_replica_paused_past_its_lease_cannot_write_to_the_run_taken_over(
    tmp_path: Path, postgres_database: str
) -> None:
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    try:
        async with replicas(postgres_database, probe.port, 2, lease=1.5) as [(a, on_a), (b, on_b)]:
            handle = await on_a.start(chain("paused", 3, 1500), {"key": "stop"})
            async with asyncio.timeout(20):
                while not any(r["event"] == "started" for r in probe_log(log)):
                    await asyncio.sleep(0.02)
            a.signal(signal.SIGSTOP)  # mid-step: its call to the probe goes on without it
            try:
                events = await events_of(on_b, handle.run_id)  # B takes over and finishes
                # A's process lives (its session and liveness lock with it): B took the run over
                # when A's lease expired, not as a dead replica's.
                assert not b.logged(ENDED)
                assert await liveness_locks(postgres_database) == 2
            finally:
                a.signal(signal.SIGCONT)
            await asyncio.sleep(3)  # A wakes, its in-flight step completes: its write must be refused
            stored = await events_of(on_b, handle.run_id)
            assert a.returncode is None  # A lives on, writing nothing of the run
            assert a.logged("lease lost; another replica has the run") or a.logged(
                "run handed over: another replica holds its lease"
            )
            metrics = await on_a.metrics()
    finally:
        await probe.stop()
    completed_once(events, 3)
    assert [e.SerializeToString() for e in stored] == [e.SerializeToString() for e in events]
    # A's call of the first step (answered after it woke) is not counted: B's three calls are.
    assert [(m.agent, m.executions) for m in metrics.agents] == [("probe", 3)]
    assert len([r for r in probe_log(log) if r["event"] == "started"]) == 4


async def liveness_locks(url: str) -> int:
    """How many replica processes the store watches."""
    db = await asyncpg.connect(url)
    try:
        return int(await db.fetchval("SELECT count(*) FROM replica_locks"))
    finally:
        await db.close()


async def test_three_replicas_300_runs_two_killed_every_run_completes_each_step_once(
    tmp_path: Path, postgres_database: str
) -> None:
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    flow = chain("chaos", 3, 1500)
    try:
        async with replicas(postgres_database, probe.port, 3, lease=2) as members:
            (a, on_a), (b, on_b), (_, on_c) = members
            # Started on all three; the same request_id on two replicas is one run.
            handles = [await [on_a, on_b, on_c][i % 3].start(flow, {"key": f"r{i}"}, request_id=f"req-{i}")
                       for i in range(300)]  # fmt: skip
            assert (await on_c.start(flow, {"key": "r0"}, request_id="req-0")).run_id == handles[0].run_id
            # Watchers on the replica that survives both kills, for every run, from the first event.
            watched = [asyncio.create_task(events_of(on_c, h.run_id)) for h in handles]
            await asyncio.sleep(1.0)
            await a.kill()
            await asyncio.sleep(2.5)
            await b.kill()
            async with asyncio.timeout(120):
                histories = await asyncio.gather(*watched)
            runs = [await on_c.get_run(h.run_id) for h in handles]
    finally:
        await probe.stop()
    assert [r.state for r in runs].count(RunState.SUCCEEDED) == 300
    for events in histories:
        completed_once(events, 3)  # gap-free sequences, each step completed once
    starts = Counter(r["idempotency_key"] for r in probe_log(log) if r["event"] == "started")
    assert all(count <= 3 for count in starts.values())  # re-sent only when in flight at a kill
    assert len({h.run_id for h in handles}) == 300
    resumed = sum(any(e.HasField("run_resumed") for e in events) for events in histories)
    assert resumed >= 20, f"only {resumed} runs were taken over: the kills came too late to test anything"
