"""The event log against a real SQLite file: recorded before seen, and slow watchers lose nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

from google.protobuf import timestamp_pb2

from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import run_pb2
from agentmesh_gateway.events import SUBSCRIBER_QUEUE, EventLog
from agentmesh_gateway.service import encode_event_response
from agentmesh_gateway.snapshots import Committed, SnapshotPacer
from agentmesh_gateway.store.base import Batch, CallRecord, CallStats, EventRecord
from agentmesh_gateway.store.sqlite import SqliteRunStore


def new_run(run_id: str) -> tuple[run_pb2.Run, run_pb2.RunEvent]:
    now = timestamp_pb2.Timestamp()
    now.GetCurrentTime()
    run = run_pb2.Run(run_id=run_id, state=run_pb2.RUN_STATE_RUNNING, create_time=now, last_sequence=1)
    first = run_pb2.RunEvent(run_id=run_id, sequence=1)
    first.run_started.run.CopyFrom(run)
    return run, first


async def append(log: EventLog, run: run_pb2.Run, **event: object) -> None:
    run.last_sequence += 1
    await log.append(run_pb2.RunEvent(run_id=run.run_id, sequence=run.last_sequence, **event), run, 0)  # type: ignore[arg-type]


async def test_a_slow_watcher_falls_back_to_the_log_and_still_gets_every_event_in_order(
    tmp_path: Path,
) -> None:
    store = SqliteRunStore(tmp_path / "nested" / "events.db")
    await store.open()
    log = EventLog(store)
    log.start()
    run, first = new_run("r1")
    assert await log.create(run, first) is None
    total = SUBSCRIBER_QUEUE * 3
    received: list[int] = []
    watching = log.watch("r1", 0)
    received.append((await anext(watching)).sequence)  # subscribed; now stop reading for a while
    for i in range(total):
        await append(log, run, step_output_chunk=run_pb2.StepOutputChunk(step_id="s", text=str(i)))
    run.state = run_pb2.RUN_STATE_SUCCEEDED
    await append(log, run, run_completed=run_pb2.RunCompleted())
    async for event in watching:
        received.append(event.sequence)
    assert received == list(range(1, total + 3))
    stored = await store.get_run("r1")
    assert stored is not None and stored.state == run_pb2.RUN_STATE_SUCCEEDED
    await log.stop()
    await store.close()


async def test_many_runs_share_commits_and_request_ids_are_unique(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "events.db")
    await store.open()
    log = EventLog(store)
    log.start()
    runs = [new_run(f"r{i}") for i in range(20)]
    assert await asyncio.gather(*(log.create(run, first) for run, first in runs)) == [None] * len(runs)
    await asyncio.gather(
        *(append(log, run, run_resumed=run_pb2.RunResumed()) for run, _ in runs for _ in range(5))
    )
    for run, _ in runs:
        assert [e.sequence for e in await store.events_after(run.run_id, 0, 100)] == [1, 2, 3, 4, 5, 6]
    dup, dup_first = new_run("dup")
    dup.request_id = "same"
    dup_first.run_started.run.request_id = "same"
    other, other_first = new_run("other")
    other.request_id = "same"
    # In one batch: the second run with the same request_id gets the first, and nothing of its own.
    first_result, second_result = await asyncio.gather(
        log.create(dup, dup_first), log.create(other, other_first)
    )
    assert first_result is None
    assert second_result is not None and second_result.run_id == "dup"
    assert await store.get_run("other") is None  # nothing stored half-way
    assert await store.events_after("other", 0, 10) == []
    third, third_first = new_run("third")
    third.request_id = "same"
    again = await log.create(third, third_first)  # a later batch: the same answer
    assert again is not None and again.run_id == "dup"
    await log.stop()
    await store.close()


def test_event_responses_encoded_from_stored_bytes_parse_as_the_generated_messages() -> None:
    for size in (0, 1, 127, 128, 300, 16_384, 3_000_000):
        event = run_pb2.RunEvent(run_id="r", sequence=7)
        event.step_output_chunk.text = "x" * size
        encoded = encode_event_response(EventRecord.of(event))
        assert pb.WatchRunResponse.FromString(encoded).event == event
        assert pb.RunWorkflowResponse.FromString(encoded).event == event


async def busy_run(log: EventLog) -> run_pb2.Run:
    """A run "busy" created, then twenty events committed one after another (sequences 2 to 21)."""
    run, first = new_run("busy")
    await log.create(run, first)
    for i in range(20):
        await append(log, run, step_output_chunk=run_pb2.StepOutputChunk(step_id="s", text=str(i)))
    return run


async def test_a_busy_run_s_snapshot_is_paced_and_flushed_at_stop(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "paced.db")
    await store.open()
    log = EventLog(store, snapshot_interval=3600)
    log.start()
    await busy_run(log)
    stored = await store.get_run("busy")
    assert stored is not None and stored.last_sequence == 1  # twenty commits, no rewrite yet
    await log.stop()  # a stopping gateway leaves every snapshot matching its log
    stored = await store.get_run("busy")
    assert stored is not None and stored.last_sequence == 21
    await store.close()


async def test_a_lagging_snapshot_catches_up_without_another_event_and_never_runs_ahead(
    tmp_path: Path,
) -> None:
    store = SqliteRunStore(tmp_path / "catch-up.db")
    await store.open()
    log = EventLog(store, snapshot_interval=0.05)
    log.start()
    run = await busy_run(log)
    async with asyncio.timeout(5):
        while (stored := await store.get_run("busy")) is not None and stored.last_sequence < 21:
            await asyncio.sleep(0.02)
    # Whatever the moment, the stored snapshot never claims an event the log does not hold.
    run.last_sequence += 1
    pending = log.append(run_pb2.RunEvent(run_id="busy", sequence=run.last_sequence), run, 0)
    stored = await store.get_run("busy")
    assert stored is not None
    assert len(await store.events_after("busy", 0, 100)) >= stored.last_sequence
    await pending
    # The final event always carries its snapshot.
    run.state = run_pb2.RUN_STATE_SUCCEEDED
    await append(log, run, run_completed=run_pb2.RunCompleted())
    stored = await store.get_run("busy")
    assert stored is not None and stored.state == run_pb2.RUN_STATE_SUCCEEDED
    assert stored.last_sequence == run.last_sequence
    await log.stop()
    await store.close()


def test_the_pacer_writes_a_snapshot_at_most_once_an_interval_and_always_at_the_end() -> None:
    pacer = SnapshotPacer(interval=3600)
    run, _ = new_run("r")
    pacer.created("r")
    run.last_sequence = 2
    assert pacer.take({"r": Committed(2, False, run, 1)}) == []  # written at creation: not due
    assert pacer.next_due() is not None
    run.last_sequence = 4  # the live run is ahead of what this batch commits
    assert pacer.take({"r": Committed(3, False, run, 1)}, flush=True) == []
    assert [(s.run_id, fence) for s, fence in pacer.take({"r": Committed(4, False, run, 1)}, flush=True)] == [
        ("r", 1)
    ]
    assert pacer.next_due() is None
    run.last_sequence = 5
    # The end, under the token its writer holds now (the run was adopted again meanwhile).
    assert [(s.run_id, fence) for s, fence in pacer.take({"r": Committed(5, True, run, 2)})] == [("r", 2)]
    assert pacer.next_due() is None


async def test_call_stats_are_exact_nearest_rank_summaries_per_agent(tmp_path: Path) -> None:
    store = SqliteRunStore(tmp_path / "calls.db")
    await store.open()
    # 1..100 ms, 10 failures, each call reporting its number of milliseconds as tokens.
    calls = [CallRecord("r", "a", i % 10 != 0, float(i), i) for i in range(1, 101)]
    calls += [CallRecord("r", "b", True, ms) for ms in (5.0, 1.0, 3.0)]
    await store.write(Batch(calls=calls))
    stats = {s.agent: s for s in await store.call_stats()}
    assert stats["a"] == CallStats("a", 100, 90, 50.5, 50.0, 95.0, 99.0, 5050)
    # Ranks ceil(1.5) = 2, ceil(2.85) = 3 and ceil(2.97) = 3.
    assert stats["b"] == CallStats("b", 3, 3, 3.0, 3.0, 5.0, 5.0, 0)
    await store.close()
