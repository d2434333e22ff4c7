"""When a schedule fires: its cron expression read in its time zone, and the ticks a gateway owes
after a pause in which none ran (the catch-up policy).

Cron expressions are five fields read by cronsim, which handles daylight-saving changes as
Debian's cron does: a time in the hour that is skipped fires at the first minute after it, and a
time in the hour that repeats fires once when the expression names its hour (in each pass when
it runs every hour). Ticks are instants (UTC); a tick's time, at second precision, is what makes
the run it starts unique (its request id).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from agentmesh.v1 import orchestrator_service_pb2 as pb

DEFAULT_CATCH_UP_WINDOW = timedelta(hours=1)
#: Ticks fired at most when catching up with CATCH_UP_ALL (the oldest beyond it are dropped).
MAX_CATCH_UP_TICKS = 1000
#: How far ahead `next_fire_times` looks for a tick (an expression may name Feb 30th).
HORIZON = timedelta(days=366 * 5)
#: A tick this late is on time (a round of the scheduler, a slow store): not a missed one.
ON_TIME_SECONDS = 60.0


def zone(name: str) -> ZoneInfo:
    """The IANA time zone (UTC when empty); ValueError if there is no such zone."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone such as Europe/Berlin") from None


def check(expression: str, time_zone: str) -> None:
    """ValueError naming what is wrong with a cron expression or a time zone."""
    tz = zone(time_zone)
    if len(expression.split()) != 5:
        raise ValueError(f"{expression!r} is not five fields: minute hour day-of-month month day-of-week")
    try:
        next(CronSim(expression, datetime.now(tz)), None)
    except CronSimError as exc:
        raise ValueError(f"{expression!r}: {exc}") from None


def ticks_after(expression: str, time_zone: str, after: datetime) -> Iterator[datetime]:
    """The schedule's ticks after `after` (exclusive), in UTC, soonest first."""
    start = after.astimezone(zone(time_zone)).replace(microsecond=0)
    limit = after + HORIZON
    for tick in CronSim(expression, start):
        moment = tick.astimezone(UTC)
        if moment > limit:
            return
        if moment > after:
            yield moment


def next_fire_times(expression: str, time_zone: str, after: datetime, count: int = 5) -> list[datetime]:
    found: list[datetime] = []
    for tick in ticks_after(expression, time_zone, after):
        found.append(tick)
        if len(found) == count:
            break
    return found


def owed(
    expression: str,
    time_zone: str,
    last: datetime,
    now: datetime,
    policy: pb.CatchUpPolicy.ValueType,
    window: timedelta | None,
) -> list[datetime]:
    """The ticks to fire now, oldest first, of those due after `last` up to `now`: the latest due
    always (it is on time, or just late); the missed ones before it as the policy says."""
    due: list[datetime] = []
    for tick in ticks_after(expression, time_zone, last):
        if tick > now:
            break
        due.append(tick)
        if len(due) > MAX_CATCH_UP_TICKS:
            due.pop(0)
    if len(due) <= 1:
        return due
    if policy == pb.CATCH_UP_POLICY_ALL:
        horizon = now - (window or DEFAULT_CATCH_UP_WINDOW)
        return [tick for tick in due[:-1] if tick >= horizon] + due[-1:]
    if policy == pb.CATCH_UP_POLICY_NONE:
        # Missed ticks start nothing; the latest still fires if it is this very round's.
        return due[-1:] if now - due[-1] < timedelta(seconds=ON_TIME_SECONDS) else []
    return due[-1:]  # ONE (the default): the latest missed tick starts one run
