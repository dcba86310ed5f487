"""Counts of each tenant's jobs by quarter hour (of Time Updated), status and trigger, kept in
step wherever jobs are written, so the health summary, the 30-day chart and the filtered
counts add up a few rows instead of scanning the history.

Quarter hours line up with every time zone in use (their offsets are whole quarter hours), so
any admin's day, and any range of days, is a whole number of buckets. One more row per status
and trigger (at ``TOTAL``, the epoch) holds the all-time count.

Every write path lands here: the ORM (a flush that adds, changes or deletes jobs), and the bulk
path (``writing.insert_jobs``), which hands its own counts to ``add``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import ForeignKey, Integer, String, Table, event, inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..extensions import Model, UTCDateTime
from .models import RosteringJob

BUCKET = timedelta(minutes=15)
TOTAL = datetime(1970, 1, 1, tzinfo=UTC)  # the bucket that holds all-time counts

Key = tuple[int, datetime, str, str]  # tenant, bucket, status, trigger


class JobTally(Model):
    """How many of a tenant's jobs, of one status and trigger, were updated in a quarter hour."""

    __tablename__ = "rostering_job_tally"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    bucket: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


def bucket_of(moment: datetime) -> datetime:
    """The quarter hour a moment falls in (UTC)."""
    moment = moment.astimezone(UTC)
    return moment.replace(minute=moment.minute - moment.minute % 15, second=0, microsecond=0)


def keys_of(tenant_id: int, updated_at: datetime, status: str, trigger: str) -> list[Key]:
    """The two rows a job counts in: its quarter hour, and all time."""
    return [
        (tenant_id, bucket_of(updated_at), status, trigger),
        (tenant_id, TOTAL, status, trigger),
    ]


def add(connection: Any, deltas: Counter[Key]) -> None:
    """Add counts (negative to take away) in the transaction of ``connection``."""
    rows = [
        {"tenant_id": k[0], "bucket": k[1], "status": k[2], "trigger": k[3], "count": n}
        for k, n in deltas.items()
        if n
    ]
    if not rows:
        return
    dialect = connection.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = cast(Table, JobTally.__table__)  # a declarative class's table
    stmt = insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=["tenant_id", "bucket", "status", "trigger"],
        set_={"count": table.c.count + stmt.excluded.count},
    )
    connection.execute(stmt, rows)


def count(deltas: Counter[Key], jobs: Iterable[tuple[int, datetime, str, str]], sign: int) -> None:
    """Count (tenant, updated_at, status, trigger) of jobs into ``deltas``."""
    for tenant_id, updated_at, status, trigger in jobs:
        for key in keys_of(tenant_id, updated_at, status, trigger):
            deltas[key] += sign


def _before_and_after(job: RosteringJob) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    state = inspect(job)
    before, after = [], []
    for name in ("updated_at", "status", "trigger"):
        history = state.attrs[name].history
        current = getattr(job, name)
        after.append(history.added[0] if history.added else current)
        before.append(history.deleted[0] if history.deleted else current)
    return tuple(before), tuple(after)


@event.listens_for(Session, "after_flush")
def _keep_counts(session: Session, flush_context: Any) -> None:
    """Count the jobs a flush added, moved (status, trigger, time) or deleted."""
    deltas: Counter[Key] = Counter()
    for job in session.new:
        if isinstance(job, RosteringJob):
            count(deltas, [(job.tenant_id, job.updated_at, job.status, job.trigger)], +1)
    for job in session.dirty:
        if isinstance(job, RosteringJob):
            before, after = _before_and_after(job)
            if before != after:
                count(deltas, [(job.tenant_id, *before)], -1)
                count(deltas, [(job.tenant_id, *after)], +1)
    for job in session.deleted:
        if isinstance(job, RosteringJob):
            before, _ = _before_and_after(job)
            count(deltas, [(job.tenant_id, *before)], -1)
    if deltas:
        add(session.connection(), deltas)
