"""When a sync schedule runs next, and how to say its interval in words."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from babel.dates import get_day_names
from flask_babel import get_locale

from ..i18n import gettext, ngettext
from ..timeutil import zone_or_utc
from .models import SyncSchedule


def describe_interval(schedule: SyncSchedule) -> str:
    """The interval as an admin would say it, in their language: "Daily at 02:00",
    "Every 6 hours", "Weekly on Mon, Thu at 02:00"."""
    if schedule.frequency == "hourly":
        hours = schedule.every_hours or 1
        return ngettext("Every hour", "Every %(num)s hours", hours)
    if schedule.frequency == "weekly":
        names = get_day_names("abbreviated", locale=str(get_locale() or "en"))
        days = ", ".join(names[d - 1] for d in sorted(schedule.weekdays or []))
        return gettext("Weekly on %(days)s at %(time)s", days=days, time=schedule.time_of_day)
    return gettext("Daily at %(time)s", time=schedule.time_of_day)


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
