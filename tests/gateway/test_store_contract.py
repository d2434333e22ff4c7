"""One store test suite, two backends: the SQLite file and a real PostgreSQL server keep runs,
events, snapshots, call records and chat the same way, and both survive being closed and reopened."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from google.protobuf.timestamp_pb2 import Timestamp

from agentmesh.v1 import run_pb2
from agentmesh_gateway.store import (
    Batch,
    CallRecord,
    EventRecord,
    NewRun,
    RunFilters,
    RunStore,
    Snapshot,
    StoreConflict,
    open_store,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store location of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'runs.db'}"
    url: str = request.getfixturevalue("postgres_database")
    return url


@pytest_asyncio.fixture
async def store(location: str) -> AsyncIterator[RunStore]:
    opened = open_store(location)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def new_run(
    run_id: str, *, created: int, request_id: str = "", owner: str = "", workflow: str = ""
) -> NewRun:
    run = run_pb2.Run(
        run_id=run_id,
        request_id=request_id,
        principal=owner,
        state=run_pb2.RUN_STATE_RUNNING,
        last_sequence=1,
    )
    run.workflow.name = workflow
    run.create_time.CopyFrom(Timestamp(seconds=created))
    first = run_pb2.RunEvent(run_id=run_id, sequence=1)
    first.run_started.run.CopyFrom(run)
    return NewRun.of(run, first)


def event(run_id: str, sequence: int, kind: str = "step_started") -> EventRecord:
    proto = run_pb2.RunEvent(run_id=run_id, sequence=sequence)
    if kind == "run_completed":
        proto.run_completed.SetInParent()
    else:
        proto.step_started.step_id = f"s{sequence}"
    return EventRecord.of(proto)


async def test_runs_are_created_once_per_idempotency_key_and_per_owner(store: RunStore) -> None:
    assert (
        await store.write(Batch(runs=[new_run("a" * 32, created=1, request_id="k", owner="alice")]))
    ).taken == {}
    taken = (
        await store.write(Batch(runs=[new_run("b" * 32, created=2, request_id="k", owner="alice")]))
    ).taken
    assert list(taken) == ["b" * 32] and run_pb2.Run.FromString(taken["b" * 32]).run_id == "a" * 32
    assert await store.get_run("b" * 32) is None
    assert await store.events_after("b" * 32, 0, 10) == []  # the refused run's first event is not stored
    # Another principal's request with the same id is another request.
    assert (
        await store.write(Batch(runs=[new_run("c" * 32, created=3, request_id="k", owner="bob")]))
    ).taken == {}
    # Requests without an id never collide.
    assert (
        await store.write(Batch(runs=[new_run("d" * 32, created=4), new_run("e" * 32, created=5)]))
    ).taken == {}
    listed = await store.list_runs(state=0, page_size=10, page_token="", max_bytes=1 << 20)
    assert {r.run_id for r in listed.runs} == {"a" * 32, "c" * 32, "d" * 32, "e" * 32}


async def test_events_page_in_order_and_only_a_final_event_is_terminal(store: RunStore) -> None:
    run_id = "f" * 32
    await store.write(Batch(runs=[new_run(run_id, created=1)]))
    await store.write(Batch(events=[event(run_id, n) for n in range(2, 6)], fences={run_id: 1}))
    await store.write(Batch(events=[event(run_id, 6, "run_completed")], fences={run_id: 1}))
    page = await store.events_after(run_id, 1, 3)
    assert [e.sequence for e in page] == [2, 3, 4] and not any(e.terminal for e in page)
    rest = await store.events_after(run_id, 4, 10)
    assert [e.sequence for e in rest] == [5, 6] and [e.terminal for e in rest] == [False, True]
    assert rest[-1].event().HasField("run_completed")


async def test_a_failed_batch_leaves_nothing_behind(store: RunStore) -> None:
    run_id = "1" * 32
    await store.write(Batch(runs=[new_run(run_id, created=1)]))
    with pytest.raises(StoreConflict):
        # A new run, and an event whose sequence is already taken: all or nothing.
        await store.write(
            Batch(runs=[new_run("2" * 32, created=2)], events=[event(run_id, 1)], fences={run_id: 1})
        )
    assert await store.get_run("2" * 32) is None
    assert [e.sequence for e in await store.events_after(run_id, 0, 10)] == [1]


async def test_snapshots_states_owners_and_pages(store: RunStore) -> None:
    runs = [new_run(f"{i:032x}", created=100 + i, owner="alice" if i % 2 else "bob") for i in range(1, 8)]
    await store.write(Batch(runs=runs))
    done = run_pb2.Run(run_id=f"{3:032x}", state=run_pb2.RUN_STATE_SUCCEEDED)
    done.create_time.CopyFrom(Timestamp(seconds=103))
    await store.write(Batch(snapshots=[Snapshot.of(done)], fences={done.run_id: 1}))
    got = await store.get_run(f"{3:032x}")
    assert got is not None and got.state == run_pb2.RUN_STATE_SUCCEEDED
    assert await store.run_counts() == {run_pb2.RUN_STATE_RUNNING: 6, run_pb2.RUN_STATE_SUCCEEDED: 1}
    assert f"{3:032x}" not in await store.unfinished_runs()
    assert await store.unfinished_runs() == [f"{i:032x}" for i in (1, 2, 4, 5, 6, 7)]  # oldest first
    # Newest first, three at a time, following the tokens.
    seen: list[str] = []
    token = ""
    while True:
        page = await store.list_runs(state=0, page_size=3, page_token=token, max_bytes=1 << 20)
        seen += [r.run_id for r in page.runs]
        if not (token := page.next_page_token):
            break
    assert seen == [f"{i:032x}" for i in range(7, 0, -1)]
    alices = await store.list_runs(state=0, page_size=10, page_token="", max_bytes=1 << 20, owner="alice")
    assert [r.run_id for r in alices.runs] == [f"{i:032x}" for i in (7, 5, 3, 1)]
    succeeded = await store.list_runs(
        state=run_pb2.RUN_STATE_SUCCEEDED, page_size=10, page_token="", max_bytes=1 << 20
    )
    assert [r.run_id for r in succeeded.runs] == [f"{3:032x}"]
    one_each = await store.list_runs(state=0, page_size=10, page_token="", max_bytes=1)
    assert len(one_each.runs) == 1 and one_each.next_page_token  # past the first, bytes end a page
    with pytest.raises(ValueError, match="not one this server issued"):
        await store.list_runs(state=0, page_size=3, page_token="garbage!", max_bytes=1 << 20)


async def test_call_stats_are_exact_nearest_rank_per_agent(store: RunStore) -> None:
    rng = random.Random(7)
    run_id = "c" * 32
    calls = [
        CallRecord(run_id, agent, rng.random() < 0.8, rng.uniform(1, 500), rng.randrange(0, 1000))
        for agent in ("a", "b")
        for _ in range(101)
    ]
    await store.write(Batch(runs=[new_run(run_id, created=1)]))
    await store.write(Batch(calls=calls, fences={run_id: 1}))
    for stats in await store.call_stats():
        mine = sorted(c.millis for c in calls if c.agent == stats.agent)
        assert stats.executions == len(mine)
        assert stats.successes == sum(c.ok for c in calls if c.agent == stats.agent)
        assert stats.average_ms == pytest.approx(sum(mine) / len(mine))
        assert stats.p50_ms == pytest.approx(mine[math.ceil(0.5 * len(mine)) - 1])
        assert stats.p95_ms == pytest.approx(mine[math.ceil(0.95 * len(mine)) - 1])
        assert stats.p99_ms == pytest.approx(mine[math.ceil(0.99 * len(mine)) - 1])
        assert stats.tokens == sum(c.tokens for c in calls if c.agent == stats.agent)


async def test_chat_turns_append_in_order(store: RunStore) -> None:
    await store.append_chat("s", [("user", "hi"), ("assistant", "hello")])
    await store.append_chat("s", [("user", "again")])
    assert await store.chat_history("s") == [("user", "hi"), ("assistant", "hello"), ("user", "again")]
    assert await store.chat_history("other") == []


async def test_what_was_written_is_there_after_reopening(location: str) -> None:
    first = open_store(location)
    await first.open()
    await first.write(
        Batch(
            runs=[new_run("9" * 32, created=1, workflow="kept")],
            calls=[CallRecord("9" * 32, "a", True, 1.0, tokens=42)],
        )
    )
    await first.close()
    again = open_store(location)
    await again.open()  # migrations already applied: nothing to do, nothing lost
    try:
        assert (await again.get_run("9" * 32)) is not None
        assert [e.sequence for e in await again.events_after("9" * 32, 0, 10)] == [1]
        assert [(s.agent, s.tokens) for s in await again.call_stats()] == [("a", 42)]
        kept = await again.list_runs(
            state=0, page_size=10, page_token="", max_bytes=1 << 20, filters=RunFilters(workflow="kept")
        )
        assert [r.run_id for r in kept.runs] == ["9" * 32]
    finally:
        await again.close()


def test_a_store_location_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="mysql:// is not a store"):
        open_store("mysql://db/runs")


async def test_a_replica_whose_lease_was_taken_over_writes_nothing_more_of_the_run(
    postgres_database: str,
) -> None:
    """Fencing: A creates a run (token 1); its lease expires; B claims it (token 2); A's late
    events, snapshot and call records are refused, B's are written, and A learns it lost the run."""
    from agentmesh_gateway.store.postgres import PostgresRunStore

    a = PostgresRunStore(postgres_database, replica="a", lease_seconds=0.2)
    b = PostgresRunStore(postgres_database, replica="b", lease_seconds=30)
    await a.open()
    await b.open()
    try:
        run_id = "7" * 32
        await a.write(Batch(runs=[new_run(run_id, created=1)]))
        assert await b.claim(10) == {}  # A's lease is fresh
        assert await a.renew({run_id: 1}) == set()
        await asyncio.sleep(0.5)  # A paused past its lease
        assert await b.claim(10) == {run_id: 2}
        stale = run_pb2.Run(run_id=run_id, state=run_pb2.RUN_STATE_FAILED, last_sequence=2)
        late = await a.write(
            Batch(
                events=[event(run_id, 2)],
                snapshots=[Snapshot.of(stale)],
                calls=[CallRecord(run_id, "late-agent", True, 18_000.0)],
                fences={run_id: 1},
            )
        )
        assert late.fenced == {run_id}
        assert await a.call_stats() == []  # the paused replica's call is not counted twice
        kept = await b.get_run(run_id)
        assert kept is not None and kept.state == run_pb2.RUN_STATE_RUNNING
        assert await a.renew({run_id: 1}) == {run_id}
        on_time = await b.write(
            Batch(
                events=[event(run_id, 2)],
                calls=[CallRecord(run_id, "agent", True, 3.0)],
                fences={run_id: 2},
            )
        )
        assert on_time.fenced == frozenset()
        assert [(s.agent, s.executions) for s in await b.call_stats()] == [("agent", 1)]
        assert [e.sequence for e in await b.events_after(run_id, 0, 10)] == [1, 2]
        await b.release([run_id])
        assert await a.claim(10) == {run_id: 3}  # handed over at once, not after 30 s
    finally:
        await a.close()
        await b.close()


#: Runs to filter: (workflow, owner), one a second, so newest first is the reverse of this order.
FILTERED = [
    ("research", "alice"),
    ("Daily Research", "bob"),
    ("trend-analysis", "alice"),
    ("RESEARCH-v2", "alice"),
    ("Überblick", "bob"),
    ("research", "bob"),
    ("report", ""),
]


async def test_runs_filter_by_workflow_principal_and_query_page_after_page(store: RunStore) -> None:
    ids = [f"{i + 1:02x}{'a' * 28}{i + 1:02x}" for i in range(len(FILTERED))]
    await store.write(
        Batch(
            runs=[
                new_run(run_id, created=100 + i, owner=owner, workflow=workflow)
                for i, (run_id, (workflow, owner)) in enumerate(zip(ids, FILTERED, strict=True))
            ]
        )
    )

    async def listed(filters: RunFilters, owner: str | None = None) -> list[str]:
        seen: list[str] = []
        token = ""
        while True:  # two at a time: the page token must hold whatever the filters
            page = await store.list_runs(
                state=0, page_size=2, page_token=token, max_bytes=1 << 20, owner=owner, filters=filters
            )
            seen += [r.run_id for r in page.runs]
            if not (token := page.next_page_token):
                return seen

    def expected(keep: list[bool]) -> list[str]:
        return [run_id for run_id, kept in reversed(list(zip(ids, keep, strict=True))) if kept]

    assert await listed(RunFilters(workflow="research")) == expected([w == "research" for w, _ in FILTERED])
    assert await listed(RunFilters(principal="alice")) == expected([o == "alice" for _, o in FILTERED])
    # A query: part of the workflow's name, whatever its case (even beyond ASCII), or an id's prefix.
    in_name = [("research" in w.casefold()) for w, _ in FILTERED]
    assert await listed(RunFilters(query="ReSeArCh")) == expected(in_name)
    assert await listed(RunFilters(query="überBLICK")) == expected([w == "Überblick" for w, _ in FILTERED])
    assert await listed(RunFilters(query=ids[2][:6])) == [ids[2]]
    assert await listed(RunFilters(query=ids[2][:6].upper())) == [ids[2]]  # ids are hex: any case
    assert await listed(RunFilters(query="%")) == []  # no wildcard: a literal character
    # Filters together, and with the caller's isolation (another principal's runs stay out).
    both = [w == "research" and o == "bob" for w, o in FILTERED]
    assert await listed(RunFilters(workflow="research", principal="bob")) == expected(both)
    assert await listed(RunFilters(query="research"), owner="alice") == expected(
        [i and o == "alice" for i, (_, o) in zip(in_name, FILTERED, strict=True)]
    )
    assert await listed(RunFilters(principal="bob"), owner="alice") == []
    assert await listed(RunFilters(workflow="nothing")) == []
