"""The change guard: hold a sync that would delete more than an institution allows until an
admin approves it, and flag a finished sync that did ("Large deletion").

A sync is over the line when, for any kind of object, it would delete more than ``percent``
of those that exist (when the agent says how many exist) or more than ``count`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import update

from .. import activity
from ..extensions import db
from ..rostering import blackouts
from ..timeutil import as_utc, utcnow, zone_or_utc
from .models import AlertSettings

DEFAULT_PERCENT = 10
DEFAULT_COUNT = 1000


@dataclass(frozen=True)
class Thresholds:
    """An institution's guard, as the agent reads it at ``GET /api/v1/change_guard``."""

    enabled: bool = True
    percent: int = DEFAULT_PERCENT
    count: int = DEFAULT_COUNT

    @classmethod
    def of(cls, row: AlertSettings | None) -> Thresholds:
        """The guard a settings row holds (none: the defaults)."""
        if row is None:
            return cls()
        return cls(row.guard_enabled, row.guard_percent, row.guard_count)

    def document(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "percent": self.percent, "count": self.count}


MAX_ALLOWANCE = timedelta(days=7)  # an allowance ends within a week at the latest
MAX_ALLOWANCE_SYNCS = 10


@dataclass(frozen=True)
class Allowance:
    """A one-time allowance: a larger line until ``until`` or for ``syncs_left`` more syncs,
    whichever ends first."""

    percent: int
    count: int
    until: datetime
    syncs_left: int | None
    reason: str
    by: str

    def document(self) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "count": self.count,
            "until": as_utc(self.until).isoformat(),
            "syncs_left": self.syncs_left,
            "reason": self.reason,
            "set_by": self.by,
        }


def allowance_of(row: AlertSettings | None, now: datetime) -> Allowance | None:
    """The allowance in force now, if any (past its time, or its syncs used: none)."""
    if row is None or row.allow_percent is None or row.allow_until is None:
        return None
    if as_utc(row.allow_until) <= now or (
        row.allow_syncs_left is not None and row.allow_syncs_left <= 0
    ):
        return None
    return Allowance(
        row.allow_percent, row.allow_count or 0, as_utc(row.allow_until), row.allow_syncs_left,
        row.allow_reason, row.allow_by,
    )  # fmt: skip


def in_force(row: AlertSettings | None, now: datetime) -> Thresholds:
    """The line a sync is weighed against now: the ordinary one, or the allowance's."""
    ordinary = Thresholds.of(row)
    allowance = allowance_of(row, now)
    if allowance is None or not ordinary.enabled:
        return ordinary
    return Thresholds(
        True, max(allowance.percent, ordinary.percent), max(allowance.count, ordinary.count)
    )


def allow(
    tenant_id: int, *, percent: int, count: int, until: datetime | None, syncs: int | None,
    reason: str, by: str, now: datetime | None = None,
) -> Allowance:  # fmt: skip
    """Allow more for a while (the caller commits): up to ``percent`` and ``count`` until
    ``until`` (at most MAX_ALLOWANCE ahead) or for ``syncs`` (1–MAX_ALLOWANCE_SYNCS) syncs,
    whichever ends first. ``ValueError`` says what is wrong."""
    now = now or utcnow()
    if not 1 <= percent <= 100 or count < 1:
        raise ValueError("an allowance needs a percentage from 1 to 100 and a count of 1 or more")
    if until is None and syncs is None:
        raise ValueError("an allowance ends at a time, after a number of syncs, or both")
    if until is not None and not now < until <= now + MAX_ALLOWANCE:
        raise ValueError("an allowance ends within the next 7 days")
    if syncs is not None and not 1 <= syncs <= MAX_ALLOWANCE_SYNCS:
        raise ValueError(f"an allowance lasts 1 to {MAX_ALLOWANCE_SYNCS} syncs")
    if not reason.strip():
        raise ValueError("an allowance needs a reason")
    row = settings_row(tenant_id)
    row.allow_percent, row.allow_count = percent, count
    row.allow_until = until or now + MAX_ALLOWANCE
    row.allow_syncs_left, row.allow_reason, row.allow_by = syncs, reason.strip()[:255], by
    allowance = allowance_of(row, now)
    assert allowance is not None
    return allowance


def end_allowance(tenant_id: int) -> None:
    """End the allowance now, recorded as whoever asks (the caller commits): the ordinary line
    is back."""
    activity.record(tenant_id, "guard.allowance_ended")
    row = settings_row(tenant_id)
    row.allow_percent = row.allow_count = row.allow_until = row.allow_syncs_left = None


def use_allowance(tenant_id: int) -> None:
    """A sync the allowance let through: one fewer left (one guarded UPDATE; the caller
    commits)."""
    db.session.execute(
        update(AlertSettings)
        .where(AlertSettings.tenant_id == tenant_id, AlertSettings.allow_syncs_left > 0)
        .values(allow_syncs_left=AlertSettings.allow_syncs_left - 1)
        .execution_options(synchronize_session=False)
    )


def additions_only(row: AlertSettings | None, now: datetime) -> bool:
    """Whether deletions are skipped now (the institution's "additions only" range)."""
    return bool(
        row is not None
        and row.additions_starts_at is not None
        and row.additions_ends_at is not None
        and as_utc(row.additions_starts_at) <= now < as_utc(row.additions_ends_at)
    )


def set_additions_only(tenant_id: int, starts_on: date, ends_on: date, zone: str) -> None:
    """Skip deletions from ``starts_on`` to ``ends_on`` (inclusive, in ``zone``); the caller
    commits. ``ValueError`` says what is wrong."""
    today = utcnow().astimezone(zone_or_utc(zone)).date()
    if ends_on < starts_on:
        raise ValueError("the range ends before it starts")
    if ends_on < today:
        raise ValueError("that range is over: it must end today or later")
    if (ends_on - starts_on).days + 1 > blackouts.MAX_DAYS:
        raise ValueError("additions only can last a year at most")
    row = settings_row(tenant_id)
    row.additions_from, row.additions_to = starts_on, ends_on
    row.additions_starts_at, row.additions_ends_at = blackouts.span(starts_on, ends_on, zone)


def end_additions_only(tenant_id: int) -> None:
    """Deletions are applied again, recorded as whoever asks (the caller commits)."""
    activity.record(tenant_id, "guard.additions_only_ended")
    row = settings_row(tenant_id)
    row.additions_from = row.additions_to = None
    row.additions_starts_at = row.additions_ends_at = None


def document(row: AlertSettings | None, now: datetime) -> dict[str, Any]:
    """The guard as the agent reads it: the line in force now, the ordinary line, the
    allowance and its end, and whether deletions are to be skipped (and from when to when)."""
    allowance = allowance_of(row, now)
    planned = row is not None and row.additions_ends_at and as_utc(row.additions_ends_at) > now
    return {
        **in_force(row, now).document(),
        "ordinary": Thresholds.of(row).document(),
        "allowance": allowance.document() if allowance else None,
        "skip_deletes": additions_only(row, now),
        "additions_only": (
            {"from": row.additions_from.isoformat(), "to": row.additions_to.isoformat()}
            if planned and row and row.additions_from and row.additions_to
            else None
        ),
    }


def settings_row(tenant_id: int) -> AlertSettings:
    """The tenant's settings row, made (with the defaults) when it has none. Not committed."""
    row = db.session.get(AlertSettings, tenant_id)
    if row is None:
        row = AlertSettings(
            tenant_id=tenant_id,
            guard_enabled=True,
            guard_percent=DEFAULT_PERCENT,
            guard_count=DEFAULT_COUNT,
            failed_streak=0,
        )
        db.session.add(row)
    return row


def thresholds(tenant_id: int) -> Thresholds:
    """The tenant's guard (the defaults until an admin or the operator changes it)."""
    return Thresholds.of(db.session.get(AlertSettings, tenant_id))


def configure(tenant_id: int, *, enabled: bool, percent: int, count: int, by: str) -> Thresholds:
    """Change the tenant's guard (admins in the tab, the operator by command). Commits."""
    if not 1 <= percent <= 100:
        raise ValueError("the percentage must be between 1 and 100")
    if count < 1:
        raise ValueError("the count must be at least 1")
    row = settings_row(tenant_id)
    row.guard_enabled, row.guard_percent, row.guard_count = enabled, percent, count
    row.guard_updated_by, row.guard_updated_at = by, utcnow()
    db.session.commit()
    return Thresholds(enabled, percent, count)


def _number(value: int) -> str:
    return f"{value:,}"  # the agent API speaks English: 4,000


def over_the_line(deleted_by_kind: dict[str, dict[str, int]], guard: Thresholds) -> list[str]:
    """Why these deletions pass the guard's line, one sentence per kind (none: within it).
    Each kind's counts are ``deleted`` and, when known, ``existing``."""
    if not guard.enabled:
        return []
    reasons = []
    for kind, counts in sorted(deleted_by_kind.items()):
        deleted = int(counts.get("deleted") or 0)
        existing = int(counts.get("existing") or 0)
        if not deleted:
            continue
        share = deleted * 100 / existing if existing else None
        what = kind.replace("_", " ")
        if share is not None and share > guard.percent:
            reasons.append(
                f"would delete {_number(deleted)} of {_number(existing)} {what} "
                f"({share:.0f} %), more than {guard.percent} %"
            )
        elif deleted > guard.count:
            of = f" of {_number(existing)}" if existing else ""
            reasons.append(
                f"would delete {_number(deleted)}{of} {what}, more than {_number(guard.count)}"
            )
    return reasons


def anomaly(
    change_counts: dict[str, dict[str, int]],
    planned: dict[str, dict[str, int]] | None,
    guard: Thresholds,
) -> list[str]:
    """Why a finished sync's deletions were over the line (none: they were not). How many
    existed comes from the agent's change check, when it made one."""
    merged = {
        kind: {**counts, "existing": (planned or {}).get(kind, {}).get("existing", 0)}
        for kind, counts in change_counts.items()
    }
    return [reason.replace("would delete", "deleted", 1) for reason in over_the_line(merged, guard)]
