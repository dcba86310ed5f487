"""Syncs with no progress: a job In Progress whose Time Updated is older than its institution's
stuck time (``AlertSettings.stuck_after_minutes``, else STUCK_AFTER_MINUTES) shows "No progress
for 3 hours" in its row, and ``sync.stuck`` is told once per job (by the worker's housekeeping,
each minute)."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ..extensions import db
from ..rostering.models import STUCK, JobStatus, RosteringJob
from ..rostering.writing import record_event
from ..timeutil import as_utc, utcnow
from .models import AlertSettings

MIN_MINUTES, MAX_MINUTES = 15, 7 * 24 * 60  # what an institution may choose


def minutes_of(row: AlertSettings | None) -> int:
    """An institution's stuck time, in minutes."""
    if row is not None and row.stuck_after_minutes:
        return row.stuck_after_minutes
    return int(current_app.config["STUCK_AFTER_MINUTES"])


def notice(now: datetime | None = None) -> int:
    """Tell of every job that has just become stuck (once per job). Commits; how many."""
    now = now or utcnow()
    candidates = db.session.execute(
        select(RosteringJob, AlertSettings)
        .outerjoin(AlertSettings, AlertSettings.tenant_id == RosteringJob.tenant_id)
        .where(
            RosteringJob.status == JobStatus.IN_PROGRESS.value,
            RosteringJob.stuck_notified_at.is_(None),
            RosteringJob.updated_at < now - timedelta(minutes=MIN_MINUTES),
        )
    ).all()
    told = 0
    for job, row in candidates:
        minutes = minutes_of(row)
        if as_utc(job.updated_at) <= now - timedelta(minutes=minutes):
            job.stuck_notified_at = now
            record_event(job, STUCK, {"minutes": minutes})
            told += 1
    db.session.commit()
    return told
