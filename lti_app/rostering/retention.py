"""How long the history is kept, and the purge that keeps it so.

Admins choose forever (the default) or 1, 2, 3 or 5 years; the operator may cap every
institution (HISTORY_MAX_YEARS). The purge removes jobs whose Time Updated is older, never a job
In Progress, a batch at a time: each transaction removes at most ``BATCH`` rows (messages and
files first, in batches of their own, then the jobs with their counts taken out of the tally
and the institution's job count), so pages are served meanwhile and an interrupted purge has
removed whole jobs only.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, select

from ..extensions import db, delete_in_batches
from ..lti.models import Tenant
from ..timeutil import utcnow
from . import tally
from .models import HistoryPolicy, JobFile, JobMessage, JobStatus, RosteringJob
from .writing import count_new_jobs

log = logging.getLogger(__name__)
CHOICES = (1, 2, 3, 5)  # years an admin may choose; None is forever
BATCH = 1000


@dataclass(frozen=True)
class Keeping:
    """What an institution keeps: its admins' choice, the operator's ceiling, the result."""

    chosen: int | None  # None: forever
    ceiling: int | None  # None: no ceiling
    purged_at: datetime | None
    purged_jobs: int

    @property
    def years(self) -> int | None:
        """The years kept in effect (None: forever)."""
        if self.ceiling is None:
            return self.chosen
        return self.ceiling if self.chosen is None else min(self.chosen, self.ceiling)


def ceiling() -> int | None:
    return current_app.config["HISTORY_MAX_YEARS"]


def keeping_of(policy: HistoryPolicy | None) -> Keeping:
    """What an institution keeps, from its policy row (none: forever, within the ceiling)."""
    return Keeping(
        chosen=policy.keep_years if policy else None,
        ceiling=ceiling(),
        purged_at=policy.purged_at if policy else None,
        purged_jobs=policy.purged_jobs if policy else 0,
    )


def keeping(tenant_id: int) -> Keeping:
    return keeping_of(db.session.get(HistoryPolicy, tenant_id))


def keep(tenant_id: int, years: int | None, by: str) -> None:
    """Keep the institution's history ``years`` (None: forever)."""
    if years is not None and years not in CHOICES:
        raise ValueError(f"years must be one of {', '.join(map(str, CHOICES))}, or forever")
    policy = db.session.get(HistoryPolicy, tenant_id) or HistoryPolicy(tenant_id=tenant_id)
    policy.keep_years = years
    policy.updated_by = by
    policy.updated_at = utcnow()
    db.session.add(policy)
    db.session.commit()


def _years_before(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year - years, day=28)


def cutoff(tenant_id: int, now: datetime | None = None) -> datetime | None:
    """Jobs updated before this are past the institution's history (None: kept forever)."""
    years = keeping(tenant_id).years
    return None if years is None else _years_before(now or utcnow(), years)


def purge_tenant(tenant_id: int, now: datetime | None = None) -> int:
    """Remove the institution's jobs past its history, a batch at a time; how many."""
    before = cutoff(tenant_id, now)
    if before is None:
        return 0
    removed = 0
    while True:
        jobs = db.session.scalars(
            select(RosteringJob.id)
            .where(
                RosteringJob.tenant_id == tenant_id,
                RosteringJob.updated_at < before,
                RosteringJob.status != JobStatus.IN_PROGRESS.value,
            )
            .order_by(RosteringJob.updated_at, RosteringJob.id)
            .limit(BATCH)
        ).all()
        if not jobs:
            break
        ids = list(jobs)
        delete_in_batches(JobMessage, JobMessage.job_id.in_(ids), batch=BATCH)
        delete_in_batches(JobFile, JobFile.job_id.in_(ids), batch=BATCH)
        gone = db.session.execute(
            delete(RosteringJob)
            .where(
                RosteringJob.id.in_(ids),
                RosteringJob.updated_at < before,
                RosteringJob.status != JobStatus.IN_PROGRESS.value,
            )
            .returning(RosteringJob.updated_at, RosteringJob.status, RosteringJob.trigger)
        ).all()
        deltas: Counter[tally.Key] = Counter()
        tally.count(deltas, [(tenant_id, *row) for row in gone], -1)
        tally.add(db.session.connection(), deltas)
        count_new_jobs(tenant_id, -len(gone))
        db.session.commit()
        removed += len(gone)
    policy = db.session.get(HistoryPolicy, tenant_id) or HistoryPolicy(tenant_id=tenant_id)
    policy.purged_at = now or utcnow()
    policy.purged_jobs = removed
    db.session.add(policy)
    db.session.commit()
    if removed:
        log.info("history of tenant %s: %d job(s) past %s removed", tenant_id, removed, before)
    return removed


def purge_all(now: datetime | None = None) -> dict[int, int]:
    """Purge every institution that keeps less than forever; jobs removed by tenant."""
    if ceiling() is None:
        tenants = db.session.scalars(
            select(HistoryPolicy.tenant_id).where(HistoryPolicy.keep_years.is_not(None))
        ).all()
    else:
        tenants = db.session.scalars(select(Tenant.id)).all()
    return {tenant_id: purge_tenant(tenant_id, now) for tenant_id in tenants}
