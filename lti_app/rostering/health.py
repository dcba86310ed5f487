"""Sync health at a glance: the last successful sync, the last sync's outcome, the success rate
and the Failed and Warning counts of the last 30 days, and a bar a day for those days, in the
admin's time zone. Counts come from the tally; two rows come from the jobs' indexes."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import cast

from sqlalchemy import case, func, select

from ..extensions import db
from ..timeutil import zone_or_utc
from .models import JobStatus, RosteringJob
from .tally import JobTally

DAYS = 30
# The chart's stacking order, bottom up.
ORDER = ("completed", "warning", "failed", "in_progress")


@dataclass(frozen=True)
class Day:
    """One bar of the chart: a day in the admin's zone and its syncs by status."""

    day: date
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class Health:
    """The health summary of a tenant's syncs."""

    last_success: datetime | None
    last_status: str | None
    last_updated: datetime | None
    days: list[Day]

    def window_count(self, status: str) -> int:
        return sum(day.counts.get(status, 0) for day in self.days)

    @property
    def finished(self) -> int:
        return sum(self.window_count(s) for s in ("completed", "warning", "failed"))

    @property
    def success_rate(self) -> int | None:
        """Completed syncs as a whole percentage of the finished ones in the window."""
        if not self.finished:
            return None
        return round(100 * self.window_count("completed") / self.finished)

    @property
    def tallest(self) -> int:
        return max((day.total for day in self.days), default=0)

    @property
    def window_start(self) -> date:
        return self.days[0].day

    @property
    def window_end(self) -> date:
        return self.days[-1].day


def window(zone_name: str, now: datetime) -> tuple[list[date], datetime, datetime]:
    """The last ``DAYS`` days in the zone, ending today, and the UTC instants they span."""
    zone = zone_or_utc(zone_name)
    today = now.astimezone(zone).date()
    days = [today - timedelta(days=DAYS - 1 - n) for n in range(DAYS)]
    start = datetime.combine(days[0], time(), tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1), time(), tzinfo=zone)
    return days, start, end


def summary(tenant_id: int, zone_name: str, now: datetime) -> Health:
    """The tenant's sync health, days in ``zone_name``."""
    zone = zone_or_utc(zone_name)
    days, start, end = window(zone_name, now)
    per_day: dict[date, dict[str, int]] = {day: {} for day in days}
    # Each quarter hour's day, decided by the database against the days' starts in the admin's
    # zone (daylight saving included): a few dozen rows come back, not one per quarter hour.
    starts = [datetime.combine(day, time(), tzinfo=zone) for day in days[1:]]
    day_of = case(*((JobTally.bucket < s, n) for n, s in enumerate(starts)), else_=len(starts))
    rows = db.session.execute(
        select(day_of, JobTally.status, func.sum(JobTally.count))
        .where(
            # The window's own bounds only (it starts long after TOTAL): an extra lower bound
            # can make SQLite walk the tenant's whole tally from 1970.
            JobTally.tenant_id == tenant_id,
            JobTally.bucket >= start,
            JobTally.bucket < end,
        )
        .group_by(day_of, JobTally.status)
    )
    for index, status, count in cast("Iterable[tuple[int, str, int]]", rows):
        if count:
            per_day[days[index]][status] = int(count)
    last_success = db.session.scalar(
        select(func.max(RosteringJob.updated_at)).where(
            RosteringJob.tenant_id == tenant_id,
            RosteringJob.status == JobStatus.COMPLETED.value,
        )
    )
    last = db.session.execute(
        select(RosteringJob.status, RosteringJob.updated_at)
        .where(RosteringJob.tenant_id == tenant_id)
        .order_by(RosteringJob.updated_at.desc(), RosteringJob.id.desc())
        .limit(1)
    ).first()
    return Health(
        last_success=last_success,
        last_status=last[0] if last else None,
        last_updated=last[1] if last else None,
        days=[Day(day, per_day[day]) for day in days],
    )
