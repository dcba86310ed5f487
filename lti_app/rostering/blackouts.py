"""Sync blackouts: date ranges (a break, a term's edge) when no sync should run. The schedule's
Next Run skips them; a sync an agent runs anyway is held by the change guard; Sync now asks the
admin to confirm; the alerts tell the day before one starts and when it ends.

Days are the institution's: inclusive dates in its zone (the schedule's time zone, else the
admin's), kept also as the UTC instants they span, so "now" is compared in one unit whatever
daylight saving does between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import bindparam, func, select

from ..extensions import db
from ..i18n import N_
from ..timeutil import as_utc, utcnow, zone_or_utc
from . import writing
from .models import BLACKOUT, SyncBlackout, SyncSchedule
from .schedule import next_run

MAX_PER_INSTITUTION = 20
MAX_DAYS = 366  # a year, a leap year's included


class BlackoutRefused(Exception):
    """A range that cannot be a blackout; ``text`` is a catalog id with its ``values``."""

    def __init__(self, text: str, **values: Any) -> None:
        super().__init__(text % values if values else text)
        self.text, self.values = text, values


def span(starts_on: date, ends_on: date, zone_name: str) -> tuple[datetime, datetime]:
    """The UTC instants from the first day's start to the day after the last, in the zone."""
    zone = zone_or_utc(zone_name)
    start = datetime.combine(starts_on, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(ends_on + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


_OF = (
    select(SyncBlackout)
    .where(SyncBlackout.tenant_id == bindparam("tenant_id"))
    .order_by(SyncBlackout.starts_at)
)


def of(tenant_id: int) -> list[SyncBlackout]:
    """The institution's blackouts, soonest first."""
    return list(db.session.scalars(_OF, {"tenant_id": tenant_id}))


def upcoming(tenant_id: int, now: datetime | None = None) -> list[SyncBlackout]:
    """The institution's blackouts not over yet (the current one first), soonest first."""
    now = now or utcnow()
    return [b for b in of(tenant_id) if as_utc(b.ends_at) > now]


def current(tenant_id: int, now: datetime | None = None) -> SyncBlackout | None:
    """The blackout the institution is in now, if any."""
    now = now or utcnow()
    return current_among(upcoming(tenant_id, now), now)


def current_among(ahead: list[SyncBlackout], now: datetime) -> SyncBlackout | None:
    """The blackout of ``ahead`` (those not over, soonest first) on at ``now``, if any."""
    return next((b for b in ahead if as_utc(b.starts_at) <= now < as_utc(b.ends_at)), None)


def add(
    tenant_id: int,
    starts_on: date,
    ends_on: date,
    *,
    reason: str,
    zone: str,
    by: str,
    today: date | None = None,
) -> SyncBlackout:
    """Add a blackout (the caller commits, with its activity row); ``BlackoutRefused`` says why
    one cannot be: the end before the start, a range over, longer than a year, overlapping
    another, or more than MAX_PER_INSTITUTION."""
    today = today or utcnow().astimezone(zone_or_utc(zone)).date()
    if ends_on < starts_on:
        raise BlackoutRefused(N_("The blackout ends before it starts."))
    if ends_on < today:
        raise BlackoutRefused(N_("That range is over: a blackout must end today or later."))
    if (ends_on - starts_on).days + 1 > MAX_DAYS:
        raise BlackoutRefused(N_("A blackout can be a year long at most."))
    count = db.session.scalar(select(func.count()).where(SyncBlackout.tenant_id == tenant_id)) or 0
    if count >= MAX_PER_INSTITUTION:
        raise BlackoutRefused(
            N_("An institution can have %(num)s blackouts at most: remove one first."),
            num=MAX_PER_INSTITUTION,
        )
    starts_at, ends_at = span(starts_on, ends_on, zone)
    for other in of(tenant_id):
        if as_utc(other.starts_at) < ends_at and starts_at < as_utc(other.ends_at):
            raise BlackoutRefused(
                N_("It overlaps the %(reason)s blackout (%(start)s to %(end)s)."),
                reason=other.reason or "—",
                start=other.starts_on.isoformat(),
                end=other.ends_on.isoformat(),
            )
    blackout = SyncBlackout(
        tenant_id=tenant_id,
        starts_on=starts_on,
        ends_on=ends_on,
        timezone=zone,
        starts_at=starts_at,
        ends_at=ends_at,
        reason=reason.strip()[:255],
        created_by=by,
    )
    db.session.add(blackout)
    return blackout


def get(tenant_id: int, blackout_id: int) -> SyncBlackout | None:
    """One of the institution's blackouts; None for another's."""
    blackout = db.session.get(SyncBlackout, blackout_id)
    return blackout if blackout is not None and blackout.tenant_id == tenant_id else None


@dataclass(frozen=True)
class NextRun:
    """When the schedule runs next, and the blackout it waits out (if any)."""

    at: datetime | None
    after: SyncBlackout | None = None


def next_run_among(schedule: SyncSchedule, blackouts: list[SyncBlackout], now: datetime) -> NextRun:
    """The schedule's first run after ``now`` that falls in none of ``blackouts`` (those not
    over at ``now``, soonest first)."""
    when, skipped = next_run(schedule, now), None
    for _ in range(MAX_PER_INSTITUTION + 1):
        inside = next(
            (b for b in blackouts if when and as_utc(b.starts_at) <= when < as_utc(b.ends_at)),
            None,
        )
        if inside is None:
            break
        skipped = inside
        when = next_run(schedule, as_utc(inside.ends_at) - timedelta(microseconds=1))
    return NextRun(when, skipped)


def zone_of(tenant_id: int, fallback: str = "UTC") -> str:
    """The institution's zone: its schedule's, else ``fallback`` (the admin's)."""
    schedule = db.session.scalars(
        select(SyncSchedule).where(SyncSchedule.tenant_id == tenant_id)
    ).first()
    return schedule.timezone if schedule is not None else fallback


def notice(now: datetime | None = None) -> int:
    """Tell of each blackout the day before it starts, and once it has ended (once each; the
    worker's housekeeping, each minute). Commits; how many were told."""
    now = now or utcnow()
    told = 0
    due = db.session.scalars(
        select(SyncBlackout).where(
            (
                SyncBlackout.told_start_at.is_(None)
                & (SyncBlackout.starts_at <= now + timedelta(days=1))
            )
            | (SyncBlackout.told_end_at.is_(None) & (SyncBlackout.ends_at <= now))
        )
    ).all()
    for blackout in due:
        facts = {"reason": blackout.reason, "from": blackout.starts_on.isoformat(),
                 "to": blackout.ends_on.isoformat()}  # fmt: skip
        if as_utc(blackout.ends_at) <= now:
            if blackout.told_start_at is None:
                blackout.told_start_at = now  # it came and went unannounced: its end suffices
            blackout.told_end_at = now
            writing.record_news(blackout.tenant_id, {**facts, "phase": "ended"}, BLACKOUT)
        else:
            blackout.told_start_at = now
            writing.record_news(blackout.tenant_id, {**facts, "phase": "starts"}, BLACKOUT)
        told += 1
    db.session.commit()
    return told


def document(blackout: SyncBlackout) -> dict[str, Any]:
    """A blackout as the agent API shows it: ISO 8601 instants in the institution's zone."""
    zone = zone_or_utc(blackout.timezone)
    return {
        "starts_at": as_utc(blackout.starts_at).astimezone(zone).isoformat(),
        "ends_at": as_utc(blackout.ends_at).astimezone(zone).isoformat(),
        "reason": blackout.reason,
    }
