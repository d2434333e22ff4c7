"""Replicas sharing one store: this gateway's leases on the runs it executes, kept up to date.

Every `interval` (a third of the lease, 2 s at most), the keeper renews the leases of the runs this gateway
executes and stops executing any it lost (its writes are fenced anyway), cancels runs whose
cancellation another replica recorded, and claims unfinished runs nobody holds — a new one
nobody has started yet, or one whose replica died or stopped — resuming each exactly as a
restarted gateway resumes its own: no completed step or item invoked again, calls in flight
sent again with the same idempotency key.

Every `PROBE_INTERVAL` it also asks the store which replicas' processes have ended (a replica's
liveness is tied to its database session: see `store.postgres_liveness`); the store releases their
leases and the keeper claims their runs in a round at once. A replica killed with SIGKILL is thus
taken over within a probe and a round, whatever the lease; one stopped with SIGTERM hands its
runs over at once; one paused or cut off from the database keeps its runs until its leases expire
(a lease plus an interval: 6 s + 2 s by default), and fencing refuses what it writes after that.
Watchers here of runs executed elsewhere are woken by NOTIFY; the keeper also wakes them each
interval, so a lost notification delays an event, never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from agentmesh_gateway import prometheus
from agentmesh_gateway.store.shared import SharedRunStore

if TYPE_CHECKING:
    from agentmesh_gateway.runs import RunOwner

log = logging.getLogger("agentmesh.gateway.replicas")

#: At most this many runs claimed at once (the rest on the next round).
CLAIM_BATCH = 100
MAX_INTERVAL = 2.0
#: The store's runs by state are counted again every this many rounds (30 s at 2 s a round).
RECOUNT_ROUNDS = 15
#: How often replicas' liveness is probed: a replica whose process died is taken over about this
#: long after, plus a round. One read-only query for all replicas, on a connection of its own.
PROBE_INTERVAL = 0.25


class LeaseKeeper:
    def __init__(self, runs: RunOwner, store: SharedRunStore) -> None:
        """`runs`: the owner of the runs this gateway executes, the only part of it the keeper asks
        or tells anything."""
        self._runs = runs
        self._store = store
        # Renewed well within the lease; runs handed over (SIGTERM) are looked for every 2 s at most.
        self.interval = min(store.lease_seconds / 3, MAX_INTERVAL)
        self._tasks: list[asyncio.Task[None]] = []
        self._cancels: set[asyncio.Task[None]] = set()
        self._rounds = 0
        # Set by a probe that released runs (or found this replica's own runs at risk): a round now.
        self._now = asyncio.Event()
        self._blind = False

    async def start(self) -> None:
        await self._store.follow(self._runs.poke, self._cancel_asked, self._runs.answers_arrived)
        await self.probe()  # a replica that died before this one started (under its name, say)
        await self.round()  # take over what waits before serving anything
        self._tasks = [
            asyncio.create_task(self._keep(), name="lease-keeper"),
            asyncio.create_task(self._watch(), name="liveness-probe"),
        ]

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._cancels]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []

    async def hand_over(self, run_ids: list[str]) -> None:
        """Give up the leases of runs this gateway stopped executing, so another takes them now."""
        with contextlib.suppress(Exception):  # a store that is gone lets the leases expire instead
            await self._store.release(run_ids)
            await self._store.leave()
        if run_ids:
            log.info("handed runs over", extra={"runs": len(run_ids), "replica": self._store.replica})

    async def _keep(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.interval):
                    await self._now.wait()
            self._now.clear()
            try:
                await self.round()
            except (TimeoutError, OSError) as exc:
                log.warning("cannot reach the store to keep leases", extra={"error": str(exc)})
            except Exception:
                log.exception("keeping leases failed")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            if await self.probe():
                self._now.set()

    async def probe(self) -> bool:
        """Look for replicas whose process ended (the store releases their leases); whether a round
        is due now: to claim their runs, or to drop this replica's runs that were taken."""
        try:
            probe = await self._store.probe()
        except Exception as exc:  # whatever the driver raises: the leases still work without it
            if not self._blind:  # once, not four times a second
                log.warning(
                    "cannot tell which replicas are alive; their leases' expiry takes over instead",
                    extra={"error": str(exc), "replica": self._store.replica},
                )
            self._blind = True
            return False
        if self._blind:
            log.info("replicas' liveness is known again", extra={"replica": self._store.replica})
            self._blind = False
        if probe.regained:
            log.warning(
                "this replica's liveness lock was lost and is held again; runs taken meanwhile are dropped",
                extra={"replica": self._store.replica},
            )
        if probe.ended:
            log.warning(
                "replicas' processes ended; their runs are taken over",
                extra={"replicas": list(probe.ended), "runs": probe.released},
            )
        return probe.released > 0 or probe.regained

    async def round(self) -> None:
        runs = self._runs
        runs.share_limits(await self._store.heartbeat())
        for run_id in await self._store.renew(runs.held()):
            log.warning("lease lost; another replica has the run", extra={"run_id": run_id})
            await runs.drop(run_id)
        for run_id, reason in (await self._store.take_cancels(list(runs.held()))).items():
            await runs.cancel(run_id, reason)
        room = runs.room()
        if room > 0:
            for run_id, fence in (await self._store.claim(min(room, CLAIM_BATCH))).items():
                await runs.adopt(run_id, fence)
        for run_id in runs.watched_elsewhere():
            runs.poke(run_id)
        # Runs by state are the whole store's, which other replicas change too: read them again
        # now and then (a count over every run, not something to do every round).
        self._rounds += 1
        if self._rounds % RECOUNT_ROUNDS == 0:
            prometheus.runs_counted(await self._store.run_counts())

    def _cancel_asked(self, run_id: str) -> None:
        """NOTIFY: a cancellation was recorded; if the run is executed here, cancel it now."""
        if not self._runs.executes(run_id):
            return

        async def cancel() -> None:
            for held, reason in (await self._store.take_cancels([run_id])).items():
                await self._runs.cancel(held, reason)

        task = asyncio.create_task(cancel(), name=f"cancel:{run_id}")
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)
