"""The PostgreSQL store's liveness locks: whether the process of a replica that holds leases is still
alive, known within a probe rather than a lease, so that a replica that dies is taken over at once
whatever the lease's length. See `postgres` for the leases themselves.

A process's database sessions end when it dies (the kernel closes its sockets, the server's backend
reads the end of the stream and exits), and a session-level advisory lock ends with its session.
So each gateway process holds one, `pg_advisory_lock(LIVENESS_LOCKS, key)`, on a connection of its
own for its whole life, and the others look, every probe, for locks that are no longer held: one
query over `replica_locks` and `pg_locks` for every replica at once, read-only. The lease of each
run names its holder's key (`runs.lease_key`); a key whose lock is free is a process that has
ended, and the leases naming it are released, as a replica stopping hands its runs over. The runs
are then claimed the usual way, with a new fencing token, so the death of a process changes how
soon its runs are claimed and nothing else.

- Keys come from a sequence, one per process, and the lock takes the two-integer form whose first
  integer is this store's alone: no two processes share a key (a new one named as a dead one gets
  its own, and releases its predecessor's runs as any replica would), and no other advisory lock
  of the store (the single-key form) can be mistaken for one.
- A replica paused (SIGSTOP, a long GC) or briefly cut off keeps its session and its lock: it is
  not taken over until its leases expire, and fencing refuses what it writes after that. A host
  that vanishes is noticed by the server's TCP keepalives on the lock's connection (set here,
  about 25 s), and then counts as ended: its writes are refused all the same if it comes back.
- A replica whose lock connection is lost while the process lives (a connection cut, the server
  restarted) notices on its next probe, which runs on that very connection, takes the same key
  again on a new one and goes on. If another replica released its leases in between, their runs
  were claimed with new tokens: its next lease round drops them, and its writes meanwhile are
  fenced.
- Locks are judged only on the server instance that granted them (`server_started`): a restart
  or a failover ends every session at once, which is no reason to take every replica's runs over.
  Their leases stand while the replicas lock again; the runs of one that never does wait for its
  leases to expire.
- Session locks need sessions: through a pooler in transaction mode (PgBouncer's
  `pool_mode = transaction`) the lock stays on a server connection that outlives the gateway
  process, so its death goes unnoticed (its leases still expire, later). Point the gateways at
  PostgreSQL itself, or at a pool in session mode; their LISTEN needs that too.
"""

from __future__ import annotations

import asyncpg

from agentmesh_gateway.store.base import FINISHED_STATES
from agentmesh_gateway.store.shared import Probe

#: The first key of every liveness lock ("aliv"): the second is the process's own.
LIVENESS_LOCKS = 0x616C6976
#: A probe, or a connection to take the lock, that takes longer leaves liveness unknown this time.
PROBE_TIMEOUT = 5.0
#: The server ends the lock's session (and frees the lock) about 10 + 3 x 5 s after its client's
#: host stops answering, where without them the kernel's defaults would take over two hours.
KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}

#: Whether the liveness lock of `k.lock_key` is held by a session of this database.
_HELD = (
    "SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    " AND l.classid = $2::integer::oid AND l.objid = k.lock_key::oid"
)
#: This process's own row (present unless someone removed it), and every other process's whose
#: lock, taken on this very server instance, is free.
_PROBE = f"""
    SELECT k.lock_key, k.replica FROM replica_locks k WHERE k.lock_key = $1
    OR (k.server_started = pg_postmaster_start_time() AND NOT EXISTS ({_HELD}))
    """  # noqa: S608 - constants only
_FINISHED = ", ".join(str(state) for state in FINISHED_STATES)
#: Forget the processes that ended (checked again: one may have locked again since the probe) and
#: release the leases they held: held under their name too, as a gateway from before liveness
#: locks claims a run without changing its key. Unfinished runs only, written as the
#: `runs_unfinished` index's predicate is: their number, not the history's, is what the statement
#: reads. A replica whose last process it was no longer counts among those alive (its heartbeat
#: would take a lease to age out).
_RELEASE = f"""
    WITH ended AS (
        DELETE FROM replica_locks k WHERE k.lock_key = ANY($1::integer[]) AND NOT EXISTS ({_HELD})
        RETURNING k.lock_key, k.replica
    ), released AS (
        UPDATE runs r SET lease_owner = '', lease_until = NULL, lease_key = NULL FROM ended e
        WHERE r.lease_key = e.lock_key AND r.lease_owner = e.replica AND r.state NOT IN ({_FINISHED})
        RETURNING r.run_id
    ), gone AS (
        DELETE FROM replicas WHERE replica IN (SELECT replica FROM ended) AND replica NOT IN (
            SELECT replica FROM replica_locks WHERE lock_key NOT IN (SELECT lock_key FROM ended))
    )
    SELECT ARRAY(SELECT replica FROM ended ORDER BY replica) AS replicas,
           (SELECT count(*) FROM released) AS runs
    """  # noqa: S608 - constants only


class LivenessLost(OSError):
    """This process's liveness lock is not held, and could not be taken again yet."""


class PostgresLiveness:
    """The liveness half of `PostgresRunStore` (a mixin): its lock, and the probe of the others'."""

    replica: str
    _url: str
    _lock: asyncpg.Connection | None
    _lock_key: int | None

    @property
    def lock_key(self) -> int | None:
        """The key of this process's liveness lock (None until the store is open)."""
        return self._lock_key

    async def _hold_liveness(self) -> None:
        """Take a key of its own for this process and hold its lock until the store closes."""
        lock = await self._connect()
        try:
            while True:
                key = int(await lock.fetchval("SELECT nextval('replica_lock_keys')"))
                # Taken only if held by nobody: a key the sequence gives again after 2^31
                # processes may belong to one still alive.
                if await lock.fetchval("SELECT pg_try_advisory_lock($1, $2)", LIVENESS_LOCKS, key):
                    break
            self._lock_key = key
            await self._register(lock)
        except BaseException:
            lock.terminate()
            raise
        self._lock = lock

    async def _let_go(self) -> None:
        lock, self._lock = self._lock, None
        if lock is not None:
            try:
                await lock.close(timeout=PROBE_TIMEOUT)
            except Exception:  # gone already, or not answering: the session ends with the socket
                lock.terminate()

    async def probe(self) -> Probe:
        regained = False
        lock = self._lock
        if lock is None or lock.is_closed():
            lock, regained = await self._lock_again(), True
        try:
            rows = await lock.fetch(_PROBE, self._lock_key, LIVENESS_LOCKS, timeout=PROBE_TIMEOUT)
        except Exception:
            if not lock.is_closed():
                raise
            # The session ended under the probe (and the lock with it): the same key, at once.
            lock, regained = await self._lock_again(), True
            rows = await lock.fetch(_PROBE, self._lock_key, LIVENESS_LOCKS, timeout=PROBE_TIMEOUT)
        found = {int(r["lock_key"]): str(r["replica"]) for r in rows}
        if self._lock_key not in found:
            # Released by a replica that probed while this one's connection was down: say again
            # that this process is alive, or its runs would not be taken over when it dies.
            await self._register(lock)
        ended = [key for key in found if key != self._lock_key]
        if not ended:
            return Probe(regained=regained)
        row = await lock.fetchrow(_RELEASE, ended, LIVENESS_LOCKS, timeout=PROBE_TIMEOUT)
        assert row is not None
        return Probe(tuple(row["replicas"]), int(row["runs"]), regained)

    async def _lock_again(self) -> asyncpg.Connection:
        """Take this process's lock again, on a new connection, once the old one is lost."""
        if self._lock is not None:
            self._lock.terminate()
            self._lock = None
        lock = await self._connect()
        try:
            if not await lock.fetchval(
                "SELECT pg_try_advisory_lock($1, $2)", LIVENESS_LOCKS, self._lock_key, timeout=PROBE_TIMEOUT
            ):
                # The server has not yet seen the old session end; the next probe tries again.
                raise LivenessLost("this replica's liveness lock is still held by its lost session")
            await self._register(lock)
        except BaseException:
            lock.terminate()
            raise
        self._lock = lock
        return lock

    async def _register(self, lock: asyncpg.Connection) -> None:
        """Name this process's key, taken on this server instance, among those to watch."""
        await lock.execute(
            "INSERT INTO replica_locks (lock_key, replica, server_started)"
            " VALUES ($1, $2, pg_postmaster_start_time()) ON CONFLICT (lock_key)"
            " DO UPDATE SET replica = excluded.replica, server_started = excluded.server_started",
            self._lock_key, self.replica, timeout=PROBE_TIMEOUT,
        )  # fmt: skip

    async def _connect(self) -> asyncpg.Connection:
        settings = {"application_name": f"agentmesh liveness {self.replica}"[:63], **KEEPALIVES}
        try:
            return await asyncpg.connect(self._url, server_settings=settings, timeout=PROBE_TIMEOUT)
        except (OSError, asyncpg.PostgresError) as exc:
            raise LivenessLost(f"cannot connect to hold this replica's liveness lock: {exc}") from None
