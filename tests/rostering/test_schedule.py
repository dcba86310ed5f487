"""When a schedule runs next, and how its interval reads."""

from __future__ import annotations

from datetime import UTC, datetime

from lti_app.rostering.models import SyncSchedule
from lti_app.rostering.schedule import describe_interval, next_run


def _schedule(**fields) -> SyncSchedule:
    defaults = {
        "first_run": datetime(2026, 1, 1, 8, 0, tzinfo=UTC),
        "timezone": "UTC",
        "enabled": True,
        "weekdays": [],
    }
    return SyncSchedule(**{**defaults, **fields})


def test_every_n_hours_counts_from_the_first_run():
    schedule = _schedule(frequency="hourly", every_hours=6)
    now = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
    assert next_run(schedule, now) == datetime(2026, 11, 26, 14, 0, tzinfo=UTC)
    assert describe_interval(schedule) == "Every 6 hours"


def test_before_the_first_run_the_first_run_is_next():
    schedule = _schedule(frequency="hourly", every_hours=1)
    assert next_run(schedule, datetime(2025, 12, 1, tzinfo=UTC)) == schedule.first_run


def test_daily_keeps_its_wall_clock_time_across_daylight_saving():
    schedule = _schedule(frequency="daily", time_of_day="02:30", timezone="America/Denver")
    # Before the change (MDT, UTC-6) and after it (MST, UTC-7).
    assert next_run(schedule, datetime(2026, 10, 30, 12, tzinfo=UTC)) == datetime(
        2026, 10, 31, 8, 30, tzinfo=UTC
    )
    assert next_run(schedule, datetime(2026, 11, 2, 12, tzinfo=UTC)) == datetime(
        2026, 11, 3, 9, 30, tzinfo=UTC
    )
    assert describe_interval(schedule) == "Daily at 02:30"


def test_weekly_picks_the_next_listed_day():
    schedule = _schedule(frequency="weekly", weekdays=[1, 4], time_of_day="01:00")
    # Thursday 2026-11-26 at 09:00 UTC: Thursday's 01:00 has passed, next is Monday.
    assert next_run(schedule, datetime(2026, 11, 26, 9, tzinfo=UTC)) == datetime(
        2026, 11, 30, 1, tzinfo=UTC
    )
    assert describe_interval(schedule) == "Weekly on Mon, Thu at 01:00"


def test_paused_schedule_has_no_next_run():
    schedule = _schedule(frequency="hourly", every_hours=1, enabled=False)
    assert next_run(schedule, datetime(2026, 11, 26, tzinfo=UTC)) is None
