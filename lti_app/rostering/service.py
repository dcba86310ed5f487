"""Reading and writing rostering jobs. Views, the agent API and the demo loader go through
here, never SQL.

Every query takes the tenant: a job of another tenant is simply not found.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..timeutil import utcnow
from .models import (
    JobFile,
    JobMessage,
    JobStatus,
    RosteringJob,
    SyncRequest,
    Trigger,
)


class JobConflict(Exception):
    """The request contradicts what is stored (a final job reopened, an id reused): 409."""


class JobRejected(Exception):
    """The request is well formed but cannot apply to this job: 422, listing the problems."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


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
    sync_request_id: int | None = None


def create_job(tenant_id: int, new: NewJob, *, commit: bool = True) -> RosteringJob:
    """Store a job for the tenant."""
    now = utcnow()
    if new.stage_history is None and new.stage:
        new.stage_history = [{"stage": new.stage, "at": (new.created_at or now).isoformat()}]
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
        sync_request_id=new.sync_request_id,
    )
    db.session.add(job)
    if commit:
        db.session.commit()
    return job


def fingerprint(body: Any) -> str:
    """A stable hash of a request body, to tell a retry from a different request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def get_job_by_external_id(tenant_id: int, external_id: str) -> RosteringJob | None:
    """One of the tenant's jobs by the SIS agent's own id."""
    stmt = select(RosteringJob).where(
        RosteringJob.tenant_id == tenant_id, RosteringJob.external_id == external_id
    )
    return db.session.scalars(stmt).first()


def create_job_once(
    tenant_id: int, new: NewJob, body_fingerprint: str
) -> tuple[RosteringJob, bool]:
    """Create a job, idempotently on its external id: the same body again returns the stored
    job (``created`` False); a different body for a stored external id is a ``JobConflict``.

    A job answering a sync request is posted by the admin who asked, as a manual sync.
    """
    existing = get_job_by_external_id(tenant_id, new.external_id)
    if existing is not None:
        return _same_request(existing, body_fingerprint), False
    if new.sync_request_id is not None:
        sync_request = db.session.scalars(
            select(SyncRequest).where(
                SyncRequest.tenant_id == tenant_id, SyncRequest.id == new.sync_request_id
            )
        ).first()
        if sync_request is None:
            raise JobRejected([{"field": "sync_request_id", "message": "no such sync request"}])
        new.posted_by = sync_request.requested_by
        new.trigger = Trigger.MANUAL
    job = create_job(tenant_id, new, commit=False)
    job.request_fingerprint = body_fingerprint
    try:
        db.session.commit()
    except IntegrityError:
        # Another request created the same external id a moment ago.
        db.session.rollback()
        existing = get_job_by_external_id(tenant_id, new.external_id)
        if existing is None:
            raise
        return _same_request(existing, body_fingerprint), False
    return job, True


def _same_request(job: RosteringJob, body_fingerprint: str) -> RosteringJob:
    if job.request_fingerprint != body_fingerprint:
        raise JobConflict(
            f"a job with external_id {job.external_id!r} exists and was created with another body"
        )
    return job


@dataclass
class JobChanges:
    """What an SIS agent changes about a job; None leaves a field as it is."""

    stage: str | None = None
    status: JobStatus | None = None
    change_counts: dict[str, dict[str, int]] | None = None
    messages: list[dict[str, Any]] | None = None  # replaces the list, so retries are harmless
    files: list[tuple[str, str]] | None = None  # added, or replacing a file of the same name


def update_job(job: RosteringJob, changes: JobChanges) -> RosteringJob:
    """Apply an agent's update. Completed, Warning and Failed are final; a completed job has
    no stage. Everything is checked before anything changes; ``updated_at`` always moves."""
    current = job.status_enum
    status = changes.status or current
    if current.is_final and status is not current:
        raise JobConflict(f"the job is {current.label}, which is final")
    stage = job.stage if changes.stage is None else changes.stage
    if status is JobStatus.COMPLETED:
        if changes.stage:
            raise JobRejected([{"field": "stage", "message": "a completed job has no stage"}])
        stage = ""

    now = utcnow()
    if stage and stage != job.stage:
        job.stage_history = [*job.stage_history, {"stage": stage, "at": now.isoformat()}]
    job.stage = stage
    job.status = status.value
    if changes.change_counts is not None:
        job.change_counts = changes.change_counts
    if changes.messages is not None:
        job.messages = [JobMessage(**message) for message in changes.messages]
    if changes.files:
        by_name = {file.name: file for file in job.files}
        for name, content in changes.files:
            if name in by_name:
                by_name[name].content = content
            else:
                job.files.append(JobFile(name=name, content=content))
    job.updated_at = max(now, job.updated_at)
    db.session.commit()
    return job


def list_jobs_after(
    tenant_id: int,
    *,
    limit: int,
    after: tuple[datetime, int] | None = None,
    status: JobStatus | None = None,
    updated_since: datetime | None = None,
) -> list[RosteringJob]:
    """Up to ``limit`` of the tenant's jobs, newest first, after a (updated_at, id) position."""
    stmt = select(RosteringJob).where(RosteringJob.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(RosteringJob.status == status.value)
    if updated_since is not None:
        stmt = stmt.where(RosteringJob.updated_at >= updated_since)
    if after is not None:
        updated_at, job_id = after
        stmt = stmt.where(
            or_(
                RosteringJob.updated_at < updated_at,
                and_(RosteringJob.updated_at == updated_at, RosteringJob.id < job_id),
            )
        )
    return list(db.session.scalars(stmt.order_by(*newest_first()).limit(limit)))


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
