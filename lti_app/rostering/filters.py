"""The Rostering Jobs list's filters: Status, Time Updated from / to (days in the admin's zone,
both inclusive) and Manual / Scheduled, as they travel in the URL, and what they select."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from ..extensions import db
from ..i18n import N_, gettext
from ..timeutil import zone_or_utc
from .models import STATUS_LABELS, JobStatus, RosteringJob, Trigger
from .tally import TOTAL, JobTally


@dataclass(frozen=True)
class JobFilter:
    """What the admin asked to see; empty means everything."""

    statuses: tuple[str, ...] = ()
    start: date | None = None  # Time Updated from (inclusive)
    end: date | None = None  # Time Updated to (inclusive)
    trigger: str | None = None
    zone: str = "UTC"
    problems: tuple[str, ...] = field(default=(), compare=False)

    @property
    def active(self) -> bool:
        return bool(self.statuses or self.start or self.end or self.trigger)

    def params(self) -> dict[str, Any]:
        """The filter as URL parameters (for the pager, Refresh and Download)."""
        params: dict[str, Any] = {}
        if self.statuses:
            params["status"] = list(self.statuses)
        if self.start:
            params["from"] = self.start.isoformat()
        if self.end:
            params["to"] = self.end.isoformat()
        if self.trigger:
            params["trigger"] = self.trigger
        return params

    def window(self) -> tuple[datetime | None, datetime | None]:
        """The UTC instants the dates stand for: from the start of the first day to the start
        of the day after the last, in the admin's zone."""
        zone = zone_or_utc(self.zone)
        start = datetime.combine(self.start, time(), tzinfo=zone) if self.start else None
        end = (
            datetime.combine(self.end + timedelta(days=1), time(), tzinfo=zone)
            if self.end
            else None
        )
        return start, end

    def where(self, stmt: Any) -> Any:
        """``stmt`` (over rostering_job) narrowed to what the filter selects."""
        if self.statuses:
            stmt = stmt.where(RosteringJob.status.in_(self.statuses))
        if self.trigger:
            stmt = stmt.where(RosteringJob.trigger == self.trigger)
        start, end = self.window()
        if start is not None:
            stmt = stmt.where(RosteringJob.updated_at >= start)
        if end is not None:
            stmt = stmt.where(RosteringJob.updated_at < end)
        return stmt

    def count(self, tenant_id: int) -> int:
        """How many jobs the filter selects, from the tally (no row of the history is read):
        the all-time rows without dates, the quarter hours of the window with them."""
        stmt = select(func.coalesce(func.sum(JobTally.count), 0)).where(
            JobTally.tenant_id == tenant_id
        )
        if self.statuses:
            stmt = stmt.where(JobTally.status.in_(self.statuses))
        if self.trigger:
            stmt = stmt.where(JobTally.trigger == self.trigger)
        start, end = self.window()
        if start is None and end is None:
            stmt = stmt.where(JobTally.bucket == TOTAL)
        else:
            # One lower bound only (SQLite walks the range of the first it picks): the
            # window's start, else just past the all-time rows.
            stmt = stmt.where(
                JobTally.bucket >= start if start is not None else JobTally.bucket > TOTAL
            )
            if end is not None:
                stmt = stmt.where(JobTally.bucket < end)
        return int(db.session.scalar(stmt) or 0)

    def describe(self) -> str:
        """The filter in words, for the caption and the count: "failed, warning"."""
        return ", ".join(gettext(STATUS_LABELS[s]).lower() for s in self.statuses)

    def file_part(self) -> str:
        """The filter in a download's file name: "failed-2026-11-01-to-2026-11-29-manual"."""
        parts = list(self.statuses)
        if self.start or self.end:
            parts += [
                (self.start.isoformat() if self.start else "start"),
                "to",
                (self.end.isoformat() if self.end else "now"),
            ]
        if self.trigger:
            parts.append(self.trigger)
        return "-".join(parts).replace("_", "-")


STATUS_WORDS = frozenset(s.value for s in JobStatus)
TRIGGERS = {t.value for t in Trigger}


def _day(value: str | None, name: str, problems: list[str]) -> date | None:
    """The day ``value`` names, else None; ``name`` is the field's catalog id, translated only
    for a problem (every page parses the filter)."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        problems.append(
            gettext("%(field)s must be a date like 2026-11-29, not “%(value)s”",
                    field=gettext(name), value=value[:40])
        )  # fmt: skip
        return None
    if not 2000 <= day.year < 2100:
        problems.append(gettext("%(field)s must be between 2000 and 2099", field=gettext(name)))
        return None
    return day


def parse(args: Mapping[str, Any], zone: str) -> JobFilter:
    """The filter a URL asks for. A bad value is left out and named in ``problems`` (the page
    says so plainly) rather than refused."""
    problems: list[str] = []
    statuses = []
    for value in args.getlist("status") if hasattr(args, "getlist") else []:
        if value in STATUS_WORDS and value not in statuses:
            statuses.append(value)
        elif value:
            problems.append(gettext("“%(value)s” is not a status", value=value[:40]))
    start = _day(args.get("from"), N_("From"), problems)
    end = _day(args.get("to"), N_("To"), problems)
    if start and end and end < start:
        problems.append(gettext("To is before From"))
        start = end = None
    trigger = args.get("trigger") or None
    if trigger and trigger not in TRIGGERS:
        problems.append(gettext("“%(value)s” is neither manual nor scheduled", value=trigger[:40]))
        trigger = None
    ordered = tuple(s.value for s in JobStatus if s.value in statuses)
    return JobFilter(ordered, start, end, trigger, zone, tuple(problems))
