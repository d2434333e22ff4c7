"""What a run store shared by gateway replicas adds to `base.RunStore`: leases on runs, with
fencing tokens, and the liveness of the replicas that hold them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from agentmesh_gateway.store.base import RunStore


@dataclass(frozen=True, slots=True)
class Probe:
    """What a look at the replicas' liveness found (`SharedRunStore.probe`)."""

    #: Replicas whose process ended: the leases they held are released, their runs claimable now.
    ended: tuple[str, ...] = ()
    #: How many unfinished runs they held.
    released: int = 0
    #: This replica's own liveness had lapsed (its lock's connection was lost) and holds again:
    #: another replica may have taken some of its runs in between.
    regained: bool = False


@runtime_checkable
class SharedRunStore(RunStore, Protocol):
    """A store several gateway replicas share: each run is executed by the replica holding its
    lease, whose fencing token goes with every write of the run (see `Batch.fences`)."""

    #: This replica's name in the leases it holds.
    replica: str
    #: How long a lease lasts unless renewed (seconds).
    lease_seconds: float

    async def claim(self, limit: int) -> dict[str, int]:
        """Take up to `limit` unfinished runs nobody holds (or whose lease expired), oldest first;
        their new fencing tokens. New runs are created held by this replica, token 1."""
        ...

    async def renew(self, fences: Mapping[str, int]) -> set[str]:
        """Extend the leases held with these tokens; the runs whose lease is gone."""
        ...

    async def release(self, run_ids: Sequence[str]) -> None:
        """Give these runs up at once (a replica stopping hands them over)."""
        ...

    async def probe(self) -> Probe:
        """Tell whether the process of each replica is alive, and release the leases of those
        whose process has ended, so that `claim` takes their runs now rather than when their
        leases expire. A replica merely paused or cut off is not ended: its leases stay until
        they expire. Raises (OSError, or the driver's error) if this replica cannot tell, its
        own liveness included."""
        ...

    async def request_cancel(self, run_id: str, reason: str) -> None:
        """Ask the replica that holds the run to cancel it."""
        ...

    async def heartbeat(self) -> int:
        """Say this replica is alive; how many replicas are (at least 1)."""
        ...

    async def leave(self) -> None:
        """This replica stops: it no longer counts among those alive."""
        ...

    async def take_cancels(self, run_ids: Sequence[str]) -> dict[str, str]:
        """Cancellations asked for among these runs (each returned once), with their reasons."""
        ...

    async def follow(
        self,
        on_events: Callable[[str], None],
        on_cancel: Callable[[str], None],
        on_input: Callable[[str], None],
    ) -> None:
        """Call `on_events(run_id)` when another replica commits events of a run, `on_cancel(run_id)`
        when a cancellation is asked for, and `on_input(run_id)` when an answer is added, until
        the store closes."""
        ...
