"""Schedules: runs of a workflow started on a cron expression's ticks, by every replica at once
and yet once per tick.

Every gateway looks for due schedules every ROUND_SECONDS. A tick starts its run with the request
id `schedule:NAME:TICK` (the tick's UTC time to the second) as the schedule's owner, so two
replicas firing the same tick find one run; the schedule's row then moves to its next tick by a
compare-and-set on the tick it read, so one of them writes it and the other's write is refused.
Every change to a schedule (pause, resume, trigger) is the same compare-and-set, retried.

A gateway that was down owes the ticks it missed: the catch-up policy says which of them fire
(`cron.owed`). Paused time is not owed: resuming starts from the next tick after now.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Protocol, overload

from agentmesh.errors import (
    AgentMeshError,
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    NotFound,
    ResourceExhausted,
    Unavailable,
    echo,
)
from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh.v1 import run_pb2, workflow_pb2
from agentmesh_gateway import cron
from agentmesh_gateway.payloads import RunData
from agentmesh_gateway.run_request import RunRequest
from agentmesh_gateway.store.base import FINISHED_STATES
from agentmesh_gateway.store.registry import Registry, ScheduleRecord
from agentmesh_gateway.validation import apply_inputs

log = logging.getLogger("agentmesh.gateway.schedules")

ROUND_SECONDS = 0.5
#: Due schedules fired in one round (the rest in the next).
ROUND_LIMIT = 100
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
MAX_CRON_CHARS = 200
MAX_ZONE_CHARS = 64
MAX_REASON_CHARS = 1000
MAX_CATCH_UP_WINDOW = timedelta(days=31)
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_CAS_ATTEMPTS = 20
#: The fields a caller does not set: the gateway fills them in answers and never stores them.
_OUTPUT_FIELDS = ("next_fire_times", "last_fire_time", "last_run_id", "create_time", "principal")


class Starter(Protocol):
    """What a schedule needs of the engine: a workflow by name, and runs."""

    async def resolve_workflow(self, name: str) -> workflow_pb2.Workflow: ...

    async def start_run(self, request: RunRequest) -> run_pb2.Run: ...

    async def get_run(self, run_id: str, owner: str | None = None) -> run_pb2.Run: ...

    async def cancel_run(self, run_id: str, reason: str, owner: str | None = None) -> run_pb2.Run: ...


class Schedules:
    def __init__(
        self,
        store: Registry,
        starter: Starter,
        clock: Callable[[], float] = time.time,
        given: Sequence[pb.Schedule] = (),
    ) -> None:
        """`clock`: seconds since the epoch (tests move it across a DST change or a downtime).
        `given`: schedules to make so at start (a mesh file's)."""
        self._store = store
        self._starter = starter
        self._clock = clock
        self._given = list(given)
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        for spec in self._given:
            try:
                await self.ensure(spec)
            except AgentMeshError as exc:
                log.error("cannot keep a schedule", extra={"schedule": spec.name, "error": exc.message})
        self._loop = asyncio.create_task(self._keep_firing(), name="schedules")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)

    # --- what callers ask -----------------------------------------------------------------------

    async def create(self, schedule: pb.Schedule, principal: str) -> pb.Schedule:
        spec = pb.Schedule()
        spec.CopyFrom(schedule)
        for name in _OUTPUT_FIELDS:
            spec.ClearField(name)  # type: ignore[arg-type]
        await self._check(spec)
        now = self._now()
        record = ScheduleRecord(
            spec.name,
            principal,
            spec.SerializeToString(),
            time.time_ns(),
            None if spec.paused else _ns(_next_tick(spec, now)),
        )
        if not await self._store.add_schedule(record):
            raise AlreadyExists(f"a schedule named {echo(spec.name)} exists", reason="SCHEDULE_EXISTS")
        log.info("schedule created", extra={"schedule": spec.name, "cron": spec.cron})
        return self._view(record)

    async def ensure(self, schedule: pb.Schedule) -> pb.Schedule:
        """Create the schedule, or change the one of its name to it (a mesh file's schedule, again
        at each start): its ticks start over from now if its timing changed; whether it is paused
        stays as it was set."""
        try:
            return await self.create(schedule, "")
        except AlreadyExists:
            pass
        wanted = pb.Schedule()
        wanted.CopyFrom(schedule)
        await self._check(wanted)

        def changed(record: ScheduleRecord, spec: pb.Schedule) -> ScheduleRecord:
            wanted.paused, wanted.pause_reason = spec.paused, spec.pause_reason
            if wanted == spec:
                return record
            timing = (wanted.cron, wanted.time_zone) != (spec.cron, spec.time_zone)
            next_fire = record.next_fire_ns
            if timing and not wanted.paused:
                next_fire = _ns(_next_tick(wanted, self._now()))
            return dataclasses.replace(record, spec=wanted.SerializeToString(), next_fire_ns=next_fire)

        return self._view(await self._change(schedule.name, None, changed))

    async def get(self, name: str, owner: str | None = None) -> pb.Schedule:
        return self._view(await self._record(name, owner))

    async def list(
        self, page_size: int, page_token: str, owner: str | None = None
    ) -> tuple[list[pb.Schedule], str]:
        """A page of schedules by name, and the token of the next page ('' after the last)."""
        if page_size < 0:
            raise InvalidInput.field("page_size", "must not be negative")
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        records = await self._store.list_schedules(page_token, size + 1, owner)
        more = len(records) > size
        records = records[:size]
        return [self._view(r) for r in records], records[-1].name if more else ""

    async def pause(self, name: str, reason: str, owner: str | None = None) -> pb.Schedule:
        if len(reason) > MAX_REASON_CHARS:
            raise InvalidInput.field("reason", f"at most {MAX_REASON_CHARS} characters")

        def paused(record: ScheduleRecord, spec: pb.Schedule) -> ScheduleRecord:
            spec.paused, spec.pause_reason = True, reason
            return dataclasses.replace(record, spec=spec.SerializeToString(), next_fire_ns=None)

        return self._view(await self._change(name, owner, paused))

    async def resume(self, name: str, owner: str | None = None) -> pb.Schedule:
        def resumed(record: ScheduleRecord, spec: pb.Schedule) -> ScheduleRecord:
            if not spec.paused:
                return record
            spec.paused, spec.pause_reason = False, ""
            next_fire = _ns(_next_tick(spec, self._now()))  # what fell due while paused is not owed
            return dataclasses.replace(record, spec=spec.SerializeToString(), next_fire_ns=next_fire)

        return self._view(await self._change(name, owner, resumed))

    async def trigger(self, name: str, owner: str | None = None) -> run_pb2.Run:
        """Start a run now, as a tick would (the overlap policy applies; SKIP refuses while the
        previous run is unfinished); the schedule's ticks are unchanged, its last fire is now."""
        record = await self._record(name, owner)
        spec = pb.Schedule.FromString(record.spec)
        now = self._now()
        if spec.overlap in _SKIPPING and await self._previous_unfinished(record):
            raise FailedPrecondition(
                f"the previous run {echo(record.last_run_id)} of schedule {echo(name)} is unfinished and"
                " the schedule skips while one is",
                reason="PREVIOUS_RUN_UNFINISHED",
            )
        run = await self._start(record, spec, f"schedule:{name}:trigger:{now.isoformat()}:{time.time_ns()}")

        def started(current: ScheduleRecord, _: pb.Schedule) -> ScheduleRecord:
            # The last fire and its run stay a pair: a trigger is a fire too.
            return dataclasses.replace(current, last_run_id=run.run_id, last_fire_ns=_ns(now))

        await self._change(name, owner, started)
        return run

    async def delete(self, name: str, owner: str | None = None) -> None:
        await self._record(name, owner)
        await self._store.delete_schedule(name)  # its runs stay, as runs do
        log.info("schedule deleted", extra={"schedule": name})

    # --- firing --------------------------------------------------------------------------------

    async def fire_due(self) -> int:
        """Fire every due tick of every due schedule; how many runs were started."""
        now = self._now()
        started = 0
        for record in await self._store.due_schedules(_ns(now), ROUND_LIMIT):
            try:
                started += await self._fire(record, now)
            except (ResourceExhausted, Unavailable) as exc:
                # The gateway is full or its store away: the tick stays due for the next round.
                log.warning("schedule not fired yet", extra={"schedule": record.name, "error": exc.message})
        return started

    async def _fire(self, record: ScheduleRecord, now: datetime) -> int:
        assert record.next_fire_ns is not None  # a due schedule has a next tick
        spec = pb.Schedule.FromString(record.spec)
        due_from = _at(record.next_fire_ns) - timedelta(seconds=1)
        window = spec.catch_up_window.ToTimedelta() if spec.HasField("catch_up_window") else None
        ticks = cron.owed(spec.cron, spec.time_zone, due_from, now, spec.catch_up, window)
        last_run_id, started = record.last_run_id, 0
        for tick in ticks:
            current = dataclasses.replace(record, last_run_id=last_run_id)
            if await self._previous_unfinished(current):
                if spec.overlap in _SKIPPING:
                    log.info("tick skipped", extra={"schedule": spec.name, "tick": tick.isoformat()})
                    continue
                if spec.overlap == pb.OVERLAP_POLICY_CANCEL_PREVIOUS:
                    reason = f"schedule {spec.name}: the tick of {tick.isoformat()} replaces it"
                    await self._starter.cancel_run(last_run_id, reason)
            try:
                run = await self._start(record, spec, f"schedule:{spec.name}:{tick.isoformat()}")
            except (ResourceExhausted, Unavailable):
                raise
            except AgentMeshError as exc:
                # A tick that cannot start (the workflow's inputs changed under it) is not retried.
                log.error(
                    "tick not started",
                    extra={"schedule": spec.name, "tick": tick.isoformat(), "error": exc.message},
                )
                continue
            last_run_id, started = run.run_id, started + 1
        next_fire = _ns(_next_tick(spec, now))
        last_fire = _ns(ticks[-1]) if ticks else record.last_fire_ns
        moved = dataclasses.replace(
            record, next_fire_ns=next_fire, last_fire_ns=last_fire, last_run_id=last_run_id
        )
        # Refused when another replica moved it first: it started the same runs (same request ids).
        await self._store.update_schedule(moved, expected_next_fire_ns=record.next_fire_ns)
        return started

    async def _start(self, record: ScheduleRecord, spec: pb.Schedule, request_id: str) -> run_pb2.Run:
        """A tick's (or a trigger's) run, started as the schedule's owner; one per request id."""
        request = RunRequest(
            await self._starter.resolve_workflow(spec.workflow_name),
            spec.inputs,
            run_pb2.RunContext(),
            request_id=request_id,
            principal=record.owner,
            schedule=spec.name,
        )
        return await self._starter.start_run(request)

    async def _previous_unfinished(self, record: ScheduleRecord) -> bool:
        if not record.last_run_id:
            return False
        try:
            run = await self._starter.get_run(record.last_run_id)
        except NotFound:
            return False
        return run.state not in FINISHED_STATES

    async def _keep_firing(self) -> None:
        while True:
            await asyncio.sleep(ROUND_SECONDS)
            try:
                await self.fire_due()
            except Exception:  # a store that is away: the next round tries again
                log.exception("schedules round failed")

    # --- helpers -------------------------------------------------------------------------------

    async def _record(self, name: str, owner: str | None) -> ScheduleRecord:
        record = await self._store.get_schedule(name) if name else None
        # Another principal's schedule is not there for the caller, as another's run is not.
        if record is None or (owner is not None and record.owner != owner):
            raise NotFound(f"no schedule {echo(name)}", reason="SCHEDULE_NOT_FOUND")
        return record

    async def _change(
        self,
        name: str,
        owner: str | None,
        change: Callable[[ScheduleRecord, pb.Schedule], ScheduleRecord],
    ) -> ScheduleRecord:
        for _ in range(_CAS_ATTEMPTS):
            record = await self._record(name, owner)
            changed = change(record, pb.Schedule.FromString(record.spec))
            if changed is record or await self._store.update_schedule(
                changed, expected_next_fire_ns=record.next_fire_ns
            ):
                return changed
        raise Unavailable(f"schedule {echo(name)} keeps changing; try again", reason="SCHEDULE_BUSY")

    async def _check(self, spec: pb.Schedule) -> None:
        problems: list[FieldViolation] = []

        def refuse(field: str, description: str) -> None:
            problems.append(FieldViolation(f"schedule.{field}", description))

        if not NAME.match(spec.name):
            refuse("name", "lower-kebab-case, at most 63 characters (a-z, 0-9 and -)")
        if len(spec.cron) > MAX_CRON_CHARS:
            refuse("cron", f"at most {MAX_CRON_CHARS} characters")
        elif len(spec.time_zone) > MAX_ZONE_CHARS:
            refuse("time_zone", f"at most {MAX_ZONE_CHARS} characters")
        else:
            try:
                cron.zone(spec.time_zone)
            except ValueError as exc:
                refuse("time_zone", str(exc))
            else:
                try:
                    cron.check(spec.cron, spec.time_zone)
                except ValueError as exc:
                    refuse("cron", str(exc))
        window = spec.catch_up_window.ToTimedelta()
        if window < timedelta(0) or window > MAX_CATCH_UP_WINDOW:
            refuse("catch_up_window", f"between 0 and {MAX_CATCH_UP_WINDOW.days} days")
        if len(spec.pause_reason) > MAX_REASON_CHARS:
            refuse("pause_reason", f"at most {MAX_REASON_CHARS} characters")
        if spec.overlap not in pb.OverlapPolicy.values():
            refuse("overlap", "not an OverlapPolicy")
        if spec.catch_up not in pb.CatchUpPolicy.values():
            refuse("catch_up", "not a CatchUpPolicy")
        if not spec.workflow_name:
            refuse("workflow_name", "name the workflow the schedule starts (NAME or NAME@VERSION)")
        else:
            try:
                workflow = await self._starter.resolve_workflow(spec.workflow_name)
            except NotFound as exc:
                refuse("workflow_name", exc.message)
            else:
                try:
                    apply_inputs(workflow, RunData(struct=spec.inputs))
                except InvalidInput as exc:
                    problems += [
                        dataclasses.replace(v, field=f"schedule.inputs.{v.field.removeprefix('inputs.')}")
                        for v in exc.violations
                    ] or [FieldViolation("schedule.inputs", exc.message)]
        if problems:
            raise InvalidInput(f"invalid schedule: {problems[0].field}: {problems[0].description}", problems)

    def _view(self, record: ScheduleRecord) -> pb.Schedule:
        """The schedule as answered: its definition and the output fields."""
        spec = pb.Schedule.FromString(record.spec)
        spec.principal = record.owner
        spec.create_time.FromNanoseconds(record.create_time_ns)
        if record.last_fire_ns is not None:
            spec.last_fire_time.FromNanoseconds(record.last_fire_ns)
        spec.last_run_id = record.last_run_id
        if record.next_fire_ns is not None:
            first = _at(record.next_fire_ns)
            later = cron.next_fire_times(spec.cron, spec.time_zone, first, count=4)
            for moment in [first, *later]:
                spec.next_fire_times.add().FromDatetime(moment)
        return spec

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)


_SKIPPING = (pb.OVERLAP_POLICY_UNSPECIFIED, pb.OVERLAP_POLICY_SKIP)


def _next_tick(spec: pb.Schedule, after: datetime) -> datetime | None:
    return next(cron.ticks_after(spec.cron, spec.time_zone, after), None)


@overload
def _ns(moment: datetime) -> int: ...
@overload
def _ns(moment: datetime | None) -> int | None: ...
def _ns(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return int(moment.timestamp()) * 1_000_000_000


def _at(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, UTC)
