"""What a store keeps beside runs: registered workflow versions and schedules.

Both live in the run store so that every replica sees the same: a version registered on one is
started by name on another, and a schedule's ticks are fired once whichever replica gets to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """One registered version of a workflow. `id` rises with each registration, across names."""

    name: str
    version: str
    #: SHA-256 (hex) of the definition's deterministic encoding, its version left out.
    digest: str
    definition: bytes
    create_time_ns: int
    id: int = 0


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """A schedule as stored: its definition (an encoded Schedule, output fields unset), who owns
    it, and where its ticks are."""

    name: str
    owner: str
    spec: bytes
    create_time_ns: int
    #: The next tick to fire (ns since the epoch); None while paused.
    next_fire_ns: int | None
    #: The last tick fired (or skipped), and the run it started.
    last_fire_ns: int | None = None
    last_run_id: str = ""


class Registry(Protocol):
    async def put_workflow(self, record: WorkflowRecord, *, explicit: bool) -> tuple[WorkflowRecord, bool]:
        """Register a version: `explicit`, under `record.version` (VersionTaken if that version
        holds another definition); otherwise under the next number, unless the latest version
        holds this very definition. The version as stored, and whether it is new."""
        ...

    async def workflows_after(self, after_id: int, limit: int) -> list[WorkflowRecord]:
        """Versions registered after the one with `after_id`, in the order they were."""
        ...

    async def version_counts(self, name: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        """Runs of each (workflow, version): (all, unfinished); of one workflow, or every one."""
        ...

    async def add_schedule(self, record: ScheduleRecord) -> bool:
        """Store a new schedule; False if one of that name exists."""
        ...

    async def get_schedule(self, name: str) -> ScheduleRecord | None: ...

    async def list_schedules(self, after: str, limit: int, owner: str | None = None) -> list[ScheduleRecord]:
        """Schedules by name after `after`, at most `limit`, of one owner or all."""
        ...

    async def update_schedule(
        self, record: ScheduleRecord, *, expected_next_fire_ns: int | bool | None = False
    ) -> bool:
        """Replace a schedule's row; with `expected_next_fire_ns` (not False), only if its next tick
        is still that one (another replica has not fired it meanwhile). Whether it was written."""
        ...

    async def delete_schedule(self, name: str) -> bool: ...

    async def due_schedules(self, now_ns: int, limit: int) -> list[ScheduleRecord]:
        """Schedules whose next tick is due, soonest first."""
        ...


def next_version(versions: Sequence[str]) -> str:
    """The next number after the highest numeric version (1 for a first version)."""
    numbers = [int(v) for v in versions if v.isdigit()]
    candidate = max(numbers, default=0) + 1
    while str(candidate) in versions:
        candidate += 1
    return str(candidate)
