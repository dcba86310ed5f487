"""Reading and writing rostering jobs. Views and the demo loader go through here, never SQL.

Every query takes the tenant: a job of another tenant is simply not found.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..timeutil import utcnow
from .models import JobFile, JobMessage, JobStatus, RosteringJob, SyncSchedule, Trigger

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


@dataclass(frozen=True)
class JobPage:
    """One page of a tenant's Rostering Jobs list."""

    jobs: list[RosteringJob]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def numbered(self, around: int = 2) -> list[int]:
        """The page numbers to offer: a window around the current page."""
        first = max(1, self.page - around)
        last = min(self.pages, self.page + around)
        return list(range(first, last + 1))


def newest_first() -> tuple[Any, Any]:
    """The list's order: most recently updated first, the id breaking ties, so rows never
    repeat or vanish between pages."""
    return (RosteringJob.updated_at.desc(), RosteringJob.id.desc())


def list_jobs(tenant_id: int, page: int = 1, per_page: int = DEFAULT_PER_PAGE) -> JobPage:
    """A page of the tenant's jobs, newest first; out-of-range pages clamp to the last."""
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    total = (
        db.session.scalar(
            select(func.count())
            .select_from(RosteringJob)
            .where(RosteringJob.tenant_id == tenant_id)
        )
        or 0
    )
    page = min(max(page, 1), max(1, math.ceil(total / per_page)))
    jobs = db.session.scalars(
        select(RosteringJob)
        .where(RosteringJob.tenant_id == tenant_id)
        .order_by(*newest_first())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return JobPage(list(jobs), page, per_page, total)


def has_running_job(tenant_id: int) -> bool:
    """Whether any of the tenant's syncs is still In Progress."""
    stmt = select(RosteringJob.id).where(
        RosteringJob.tenant_id == tenant_id, RosteringJob.status == JobStatus.IN_PROGRESS
    )
    return db.session.scalar(stmt.limit(1)) is not None


def get_job(tenant_id: int, public_id: str, *, with_details: bool = False) -> RosteringJob | None:
    """One of the tenant's jobs by its public id, or None (also for other tenants' jobs)."""
    stmt = select(RosteringJob).where(
        RosteringJob.tenant_id == tenant_id, RosteringJob.public_id == public_id
    )
    if with_details:
        stmt = stmt.options(selectinload(RosteringJob.files), selectinload(RosteringJob.messages))
    return db.session.scalars(stmt).first()


def get_schedule(tenant_id: int) -> SyncSchedule | None:
    """The tenant's sync schedule, if one is configured."""
    return db.session.scalars(
        select(SyncSchedule).where(SyncSchedule.tenant_id == tenant_id)
    ).first()


@dataclass
class NewJob:
    """What an SIS agent (or the demo loader) reports about a sync."""

    external_id: str
    posted_by: str
    trigger: Trigger
    sis_type: str
    status: JobStatus
    stage: str = ""
    type: str = "Roster Import"
    change_counts: dict[str, dict[str, int]] | None = None
    stage_history: list[dict[str, str]] | None = None
    files: list[tuple[str, str]] | None = None  # (name, verbatim JSON text)
    messages: list[dict[str, Any]] | None = None  # severity, file, row, message
    created_at: datetime | None = None
    updated_at: datetime | None = None


def create_job(tenant_id: int, new: NewJob, *, commit: bool = True) -> RosteringJob:
    """Store a job for the tenant."""
    now = utcnow()
    job = RosteringJob(
        tenant_id=tenant_id,
        external_id=new.external_id,
        type=new.type,
        posted_by=new.posted_by,
        trigger=Trigger(new.trigger).value,
        sis_type=new.sis_type,
        stage=new.stage,
        status=JobStatus(new.status).value,
        change_counts=new.change_counts or {},
        stage_history=new.stage_history or [],
        created_at=new.created_at or now,
        updated_at=new.updated_at or new.created_at or now,
        files=[JobFile(name=name, content=content) for name, content in new.files or []],
        messages=[JobMessage(**message) for message in new.messages or []],
    )
    db.session.add(job)
    if commit:
        db.session.commit()
    return job


CSV_HEADER = (
    "Job ID",
    "External ID",
    "Type",
    "Posted By",
    "Trigger",
    "SIS Type",
    "Time Updated (UTC)",
    "Created (UTC)",
    "Stage",
    "Status",
)
# A cell starting with one of these is run as a formula by spreadsheet programs.
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_PREFIXES) else value


def csv_lines(tenant_id: int) -> Iterator[str]:
    """The tenant's whole history as CSV (RFC 4180, CRLF), one line at a time.

    Rows are read from the database in batches and written as they come, so memory stays flat
    however long the history is.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(values: tuple[str, ...]) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(values)
        return buffer.getvalue()

    yield line(CSV_HEADER)
    stmt = (
        select(
            RosteringJob.public_id,
            RosteringJob.external_id,
            RosteringJob.type,
            RosteringJob.posted_by,
            RosteringJob.trigger,
            RosteringJob.sis_type,
            RosteringJob.updated_at,
            RosteringJob.created_at,
            RosteringJob.stage,
            RosteringJob.status,
        )
        .where(RosteringJob.tenant_id == tenant_id)
        .order_by(*newest_first())
        .execution_options(yield_per=2000)
    )
    for row in db.session.execute(stmt):
        (
            public_id,
            external_id,
            type_,
            posted_by,
            trigger,
            sis_type,
            updated_at,
            created_at,
            stage,
            status,
        ) = row
        yield line(
            (
                public_id,
                _safe_cell(external_id),
                _safe_cell(type_),
                _safe_cell(posted_by),
                trigger,
                _safe_cell(sis_type),
                updated_at.isoformat().replace("+00:00", "Z"),
                created_at.isoformat().replace("+00:00", "Z"),
                _safe_cell(stage),
                JobStatus(status).label,
            )
        )
