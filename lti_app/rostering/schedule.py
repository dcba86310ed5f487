"""When a sync schedule runs next, and how to say its interval in words."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from ..timeutil import zone_or_utc
from .models import SyncSchedule

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def describe_interval(schedule: SyncSchedule) -> str:
    """The interval as an admin would say it: "Daily at 02:00", "Every 6 hours"."""
    if schedule.frequency == "hourly":
        hours = schedule.every_hours or 1
        return "Every hour" if hours == 1 else f"Every {hours} hours"
    if schedule.frequency == "weekly":
        days = ", ".join(WEEKDAY_NAMES[d - 1] for d in sorted(schedule.weekdays or []))
        return f"Weekly on {days} at {schedule.time_of_day}"
    return f"Daily at {schedule.time_of_day}"


def next_run(schedule: SyncSchedule, now: datetime) -> datetime | None:
    """The first run after ``now`` (aware), or None while the schedule is paused."""
    if not schedule.enabled:
        return None
    first = schedule.first_run
    if now < first:
        return first
    if schedule.frequency == "hourly":
        step = timedelta(hours=schedule.every_hours or 1)
        return first + step * ((now - first) // step + 1)

    zone = zone_or_utc(schedule.timezone)
    hour, minute = (int(part) for part in (schedule.time_of_day or "00:00").split(":"))
    day = now.astimezone(zone).date()
    # A daily or weekly run is at most eight local days away; walk them in the schedule's zone
    # so daylight-saving changes keep the wall-clock time.
    for offset in range(9):
        candidate_day = day + timedelta(days=offset)
        if schedule.frequency == "weekly" and candidate_day.isoweekday() not in schedule.weekdays:
            continue
        candidate = datetime.combine(candidate_day, time(hour, minute), tzinfo=zone)
        if candidate > now:
            return candidate.astimezone(UTC)
    return None
