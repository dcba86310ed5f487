"""The change guard: hold a sync that would delete more than an institution allows until an
admin approves it, and flag a finished sync that did ("Large deletion").

A sync is over the line when, for any kind of object, it would delete more than ``percent``
of those that exist (when the agent says how many exist) or more than ``count`` of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..extensions import db
from ..timeutil import utcnow
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
