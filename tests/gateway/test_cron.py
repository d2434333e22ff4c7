"""Schedules' ticks: cron read in an IANA time zone across DST changes as Debian's cron reads it,
and the ticks owed after a pause under each catch-up policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agentmesh.v1 import orchestrator_service_pb2 as pb
from agentmesh_gateway.cron import check, next_fire_times, owed

BERLIN = ZoneInfo("Europe/Berlin")


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def test_a_skipped_local_time_fires_once_at_the_first_minute_after_it() -> None:
    # 2027-03-28: 02:00 → 03:00 in Berlin; 02:30 does not exist that day.
    ticks = next_fire_times("30 2 * * *", "Europe/Berlin", local(2027, 3, 26, 12, 0), 3)
    assert [t.astimezone(BERLIN).isoformat() for t in ticks] == [
        "2027-03-27T02:30:00+01:00",
        "2027-03-28T03:00:00+02:00",
        "2027-03-29T02:30:00+02:00",
    ]


def test_a_repeated_local_time_fires_once_when_the_hour_is_named() -> None:
    # 2027-10-31: 03:00 → 02:00 in Berlin; 02:30 happens twice, the job once.
    ticks = next_fire_times("30 2 * * *", "Europe/Berlin", local(2027, 10, 30, 12, 0), 2)
    assert [t.astimezone(BERLIN).isoformat() for t in ticks] == [
        "2027-10-31T02:30:00+02:00",
        "2027-11-01T02:30:00+01:00",
    ]
    assert ticks[1] - ticks[0] == timedelta(hours=25)


def test_an_hourly_job_runs_in_both_passes_of_the_repeated_hour() -> None:
    ticks = next_fire_times("0 * * * *", "Europe/Berlin", local(2027, 10, 31, 0, 30), 4)
    assert [t.astimezone(UTC).strftime("%H:%M") for t in ticks] == ["23:00", "00:00", "01:00", "02:00"]


def test_bad_expressions_and_zones_are_named() -> None:
    for expression, zone, message in (
        ("* * *", "UTC", "five fields"),
        ("61 * * * *", "UTC", "61"),
        ("0 9 * * *", "Mars/Olympus", "IANA"),
    ):
        with pytest.raises(ValueError, match=message):
            check(expression, zone)


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (pb.CATCH_UP_POLICY_UNSPECIFIED, ["12:55"]),
        (pb.CATCH_UP_POLICY_ONE, ["12:55"]),
        (pb.CATCH_UP_POLICY_NONE, []),
        (pb.CATCH_UP_POLICY_ALL, ["12:30", "12:35", "12:40", "12:45", "12:50", "12:55"]),
    ],
)
def test_ticks_missed_while_no_gateway_ran(policy: int, expected: list[str]) -> None:
    last = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    now = datetime(2027, 1, 1, 12, 57, tzinfo=UTC)
    window = timedelta(minutes=30)
    ticks = owed("*/5 * * * *", "UTC", last, now, policy, window)  # type: ignore[arg-type]
    assert [t.strftime("%H:%M") for t in ticks] == expected


def test_a_tick_due_this_round_fires_whatever_the_policy() -> None:
    last = datetime(2027, 1, 1, 12, 0, tzinfo=UTC)
    now = datetime(2027, 1, 1, 12, 5, 0, 400_000, tzinfo=UTC)
    for policy in (pb.CATCH_UP_POLICY_NONE, pb.CATCH_UP_POLICY_ONE, pb.CATCH_UP_POLICY_ALL):
        assert [t.strftime("%H:%M") for t in owed("*/5 * * * *", "UTC", last, now, policy, None)] == ["12:05"]
