"""The gateway's alarm: parked runs whose timer is due (a sleep step's end, a question's timeout)
are woken and executed here.

Parked runs hold no task and no memory; their next timer is a column of their row, so the alarm
asks the store, every INTERVAL, for the runs due (an index read, whatever the number parked). A
run woken is taken with its lease (`RunOwner.wake`), so of several replicas one wakes it. A timer
fires at most INTERVAL plus one resume after it is due.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agentmesh_gateway.runs import RunOwner

log = logging.getLogger("agentmesh.gateway.alarm")

INTERVAL = 0.25
#: Runs woken per round at most (the rest in the next round).
BATCH = 500


class Alarm:
    def __init__(self, runs: RunOwner, interval: float = INTERVAL) -> None:
        self._runs = runs
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._ring(), name="alarm")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _ring(self) -> None:
        while True:
            try:
                woken = await self._runs.wake_due(BATCH)
            except (TimeoutError, OSError) as exc:
                log.warning("cannot read due timers from the store", extra={"error": str(exc)})
                woken = 0
            except Exception:
                log.exception("waking due runs failed")
                woken = 0
            if woken < BATCH:  # a full batch: more may be due at once
                await asyncio.sleep(self._interval)
