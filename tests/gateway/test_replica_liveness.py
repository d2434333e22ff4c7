"""Replicas' liveness on PostgreSQL: each gateway process holds an advisory lock for its life, and
the leases of a process whose lock is free (its session ended: it died) are released and claimed
with a new token at once, whatever their expiry. A replica merely paused keeps its runs until its
leases expire (test_replicas); one that lost its lock's connection locks again and keeps only the
runs still its own. Leases of an hour throughout, so that their expiry is never what takes over."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import pytest

from agentmesh.client import RunState
from agentmesh_gateway.store.base import Batch
from agentmesh_gateway.store.postgres import PostgresRunStore
from agentmesh_gateway.store.postgres_liveness import LIVENESS_LOCKS
from agentmesh_gateway.store.shared import Probe
from tests.gateway.test_replicas import ENDED, chain, completed_once, events_of, replicas
from tests.gateway.test_store_contract import event, new_run
from tests.support.mesh import probe_log, start_probe

pytestmark = pytest.mark.slow

HOUR = 3600.0


@asynccontextmanager
async def opened(url: str, *names: str) -> AsyncIterator[list[PostgresRunStore]]:
    """Replica stores named `names`, open (each holding its liveness lock) until the block ends."""
    stores = [PostgresRunStore(url, replica=name, lease_seconds=HOUR) for name in names]
    for store in stores:
        await store.open()
    try:
        yield stores
    finally:
        for store in stores:
            await store.close()


async def holder(db: PostgresRunStore, key: int | None) -> int | None:
    """The backend holding the liveness lock of `key`, if any."""
    pid = await db.pool.fetchval(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2"
        " AND classid = $1::integer::oid AND objid = $2::integer::oid",
        LIVENESS_LOCKS, key,
    )  # fmt: skip
    return None if pid is None else int(pid)


async def until_free(db: PostgresRunStore, key: int | None) -> None:
    """Until the server has ended the session that held the lock of `key`."""
    async with asyncio.timeout(10):
        while await holder(db, key) is not None:
            await asyncio.sleep(0.01)


async def cut(db: PostgresRunStore, key: int | None) -> None:
    """End the session of a lock from the server's side, as a dropped connection does, the
    process that held it living on."""
    await db.pool.execute("SELECT pg_terminate_backend($1)", await holder(db, key))
    await until_free(db, key)


async def test_the_leases_of_a_process_that_ended_are_released_and_claimed_with_a_new_token(
    postgres_database: str,
) -> None:
    """Its leases go at the next probe, an hour before they expire; a new process under the same
    name has a key of its own and takes its predecessor's runs over as any replica would; locks of
    the same numbers in other forms do not keep the dead process alive."""
    run_id, elsewhere = "1" * 32, "6" * 32
    async with opened(postgres_database, "b") as [b]:
        async with opened(postgres_database, "x") as [x]:
            dead = x.lock_key
            await x.write(Batch(runs=[new_run(run_id, created=1), new_run(elsewhere, created=2)]))
            assert await b.probe() == Probe()
            assert await b.claim(10) == {}
            # Claimed by a gateway from before liveness locks, which leaves the key as it was.
            await b.pool.execute(
                "UPDATE runs SET lease_owner = 'older', fence = fence + 1 WHERE run_id = $1", elsewhere
            )
        # The same numbers under the single-key form (which other locks of the store use) and
        # under another first key.
        other = await asyncpg.connect(postgres_database)
        try:
            await other.execute(
                "SELECT pg_advisory_lock(($1::bigint << 32) | $2::integer), pg_advisory_lock(1, $2::integer)",
                LIVENESS_LOCKS, dead,
            )  # fmt: skip
            await until_free(b, dead)
            async with opened(postgres_database, "x") as [again]:
                assert again.lock_key != dead
                assert await again.probe() == Probe(ended=("x",), released=1)
                assert await b.probe() == Probe()  # released once
                assert await again.claim(10) == {run_id: 2}
                assert await b.claim(10) == {}
        finally:
            await other.close()


async def test_a_replica_that_lost_its_lock_connection_locks_again_and_keeps_only_runs_still_its_own(
    postgres_database: str,
) -> None:
    first, second, later = "2" * 32, "3" * 32, "4" * 32
    async with opened(postgres_database, "b") as [b]:
        async with opened(postgres_database, "a") as [a]:
            await a.write(Batch(runs=[new_run(first, created=1), new_run(second, created=2)]))
            assert [await b.heartbeat(), await a.heartbeat()] == [1, 2]
            # Locked again before anyone looked: nothing was taken.
            await cut(b, a.lock_key)
            assert await a.probe() == Probe(regained=True)
            assert await b.probe() == Probe()
            assert await a.renew({first: 1, second: 1}) == set()
            # Looked at before it locked again: its leases were released and claimed, and it learns
            # so at its next renewal; what it writes of them meanwhile is refused.
            await cut(b, a.lock_key)
            assert await b.probe() == Probe(ended=("a",), released=2)
            assert await b.claim(10) == {first: 2, second: 2}
            assert await b.heartbeat() == 1  # nor is it counted among those alive (sharing limits)
            assert await a.probe() == Probe(regained=True)
            assert await a.heartbeat() == 2
            assert await a.renew({first: 1, second: 1}) == {first, second}
            assert (await a.write(Batch(events=[event(first, 2)], fences={first: 1}))).fenced == {first}
            # It is watched again: its next run is released when its process ends.
            assert await b.probe() == Probe()
            await a.write(Batch(runs=[new_run(later, created=3)]))
            key = a.lock_key
        await until_free(b, key)
        assert await b.probe() == Probe(ended=("a",), released=1)
        assert await b.claim(10) == {later: 2}


async def test_locks_taken_on_an_earlier_server_instance_are_not_judged(postgres_database: str) -> None:
    """A restart or failover ends every session at once: replicas are not taken over for that (their
    leases stand) while they lock again, and rows of locks from before are forgotten."""
    run_id = "5" * 32
    async with opened(postgres_database, "b") as [b]:
        async with opened(postgres_database, "a") as [a]:
            await a.write(Batch(runs=[new_run(run_id, created=1)]))
            key = a.lock_key
            await b.pool.execute(
                "UPDATE replica_locks SET server_started = server_started - interval '1 day'"
                " WHERE lock_key = $1",
                key,
            )
        await until_free(b, key)
        assert await b.probe() == Probe()
        assert await b.claim(10) == {}
        await b.heartbeat()
        assert await b.pool.fetchval("SELECT count(*) FROM replica_locks WHERE lock_key = $1", key) == 0


async def until_started(log: Path, key: str) -> None:
    async with asyncio.timeout(20):
        while not any(r["event"] == "started" and r["key"] == key for r in probe_log(log)):
            await asyncio.sleep(0.02)


async def test_a_replica_killed_is_taken_over_when_its_session_ends_not_when_its_lease_expires(
    tmp_path: Path, postgres_database: str
) -> None:
    """SIGKILL of the replica executing a run, mid-step: the other resumes it (events_of waits a
    minute, the lease is an hour), no step whose outcome was recorded runs again, and the step
    in flight is sent again with the same idempotency key."""
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    try:
        async with replicas(postgres_database, probe.port, 2, lease=HOUR) as [(a, on_a), (b, on_b)]:
            handle = await on_a.start(chain("killed", 3, 600), {"key": "k"})
            watching = asyncio.create_task(events_of(on_b, handle.run_id))
            await until_started(log, "k-s1")
            await a.kill()
            events = await watching
            run = await on_b.get_run(handle.run_id)
    finally:
        await probe.stop()
    assert run.state == RunState.SUCCEEDED
    completed_once(events, 3)
    resumed = next(i for i, e in enumerate(events) if e.HasField("run_resumed"))
    recorded = {e.step_completed.step_id for e in events[:resumed] if e.HasField("step_completed")}
    assert recorded == {"s0"}
    started = [r for r in probe_log(log) if r["event"] == "started"]
    assert Counter(r["key"] for r in started) == {"k-s0": 1, "k-s1": 2, "k-s2": 1}
    assert len({r["idempotency_key"] for r in started if r["key"] == "k-s1"}) == 1
    assert [(len(e["replicas"]), e["runs"]) for e in b.logged(ENDED)] == [(1, 1)]


async def cut_holder(url: str, run_id: str) -> None:
    """End, from the server's side, the session of the liveness lock of the run's lease holder."""
    db = await asyncpg.connect(url)
    try:
        pid = await db.fetchval(
            "SELECT l.pid FROM pg_locks l JOIN runs r ON l.objid = r.lease_key::oid"
            " WHERE r.run_id = $1 AND l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
            " AND l.classid = $2::integer::oid",
            run_id, LIVENESS_LOCKS,
        )  # fmt: skip
        assert pid is not None
        await db.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await db.close()


async def test_a_replica_whose_lock_connection_was_cut_writes_nothing_of_runs_taken_and_is_watched_again(
    tmp_path: Path, postgres_database: str
) -> None:
    """A's lock connection is cut while A is stopped: B takes A's run over (A's lock is free). A,
    continued, locks again, drops the run and writes nothing of it; killed later, its next run
    is taken over as well, so it is watched again."""
    log = tmp_path / "probe.jsonl"
    probe = await start_probe(log)
    try:
        async with replicas(postgres_database, probe.port, 2, lease=HOUR) as [(a, on_a), (b, on_b)]:
            handle = await on_a.start(chain("cut", 2, 1500), {"key": "c"})
            await until_started(log, "c-s0")
            a.signal(signal.SIGSTOP)
            try:
                await cut_holder(postgres_database, handle.run_id)
                events = await events_of(on_b, handle.run_id)
            finally:
                a.signal(signal.SIGCONT)
            async with asyncio.timeout(20):
                while not (a.logged(REGAINED) and (a.logged(LEASE_LOST) or a.logged(HANDED_OVER))):
                    await asyncio.sleep(0.05)
            stored = await events_of(on_b, handle.run_id)
            later = await on_a.start(chain("later", 2, 600), {"key": "d"})
            await until_started(log, "d-s0")
            await a.kill()
            after = await events_of(on_b, later.run_id)
    finally:
        await probe.stop()
    completed_once(events, 2)
    assert [e.SerializeToString() for e in stored] == [e.SerializeToString() for e in events]
    completed_once(after, 2)
    assert any(e.HasField("run_resumed") for e in after)
    assert [e["runs"] for e in b.logged(ENDED)] == [1, 1]


REGAINED = "this replica's liveness lock was lost and is held again; runs taken meanwhile are dropped"
LEASE_LOST = "lease lost; another replica has the run"
HANDED_OVER = "run handed over: another replica holds its lease"
