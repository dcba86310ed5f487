"""Writing the job store: a job created (once per external id, or in bulk), updated, imported
with its history; the counts kept in step, and the job's events for the alerts."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from .. import counters
from ..extensions import db
from ..lti.models import Tenant
from ..timeutil import utcnow
from . import tally
from .export import csv_line
from .models import (
    AWAITING_APPROVAL,
    SETTINGS,
    ApprovalState,
    JobEvent,
    JobFile,
    JobMessage,
    JobStatus,
    RosteringJob,
    SyncRequest,
    Trigger,
    new_public_id,
)
from .reading import get_job_by_external_id


class JobConflict(Exception):
    """The request contradicts what is stored (a final job reopened, an id reused): 409."""


class JobRejected(Exception):
    """The request is well formed but cannot apply to this job: 422, listing the problems."""

    def __init__(self, problems: list[dict[str, str]]) -> None:
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems


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
    request_fingerprint: str = ""  # of the request that reported it: a retry matches
    canvas_sis_import_id: int | None = None


def create_job(
    tenant_id: int, new: NewJob, *, commit: bool = True, counted: bool = True
) -> RosteringJob:
    """Store a job for the tenant. ``counted=False`` leaves the tenant's job count to the
    caller, which adds a whole batch at once (``count_new_jobs``)."""
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
        stage_history=_stage_history(new, now),
        created_at=new.created_at or now,
        updated_at=new.updated_at or new.created_at or now,
        files=[JobFile(name=name, content=content) for name, content in new.files or []],
        messages=[JobMessage(**message) for message in new.messages or []],
        sync_request_id=new.sync_request_id,
        request_fingerprint=new.request_fingerprint,
        canvas_sis_import_id=new.canvas_sis_import_id,
    )
    db.session.add(job)
    if counted:
        count_new_jobs(tenant_id, 1)
    if commit:
        db.session.commit()
    return job


# The columns a bulk insert writes, in the order of its rows.
_BULK_COLUMNS = (
    "public_id",
    "tenant_id",
    "external_id",
    "type",
    "posted_by",
    "trigger",
    "sis_type",
    "stage",
    "status",
    "change_counts",
    "stage_history",
    "request_fingerprint",
    "created_at",
    "updated_at",
    "csv_line",
)


def insert_jobs(
    tenant_id: int, new_jobs: Iterable[NewJob], batch: int = 20_000, *, commit: bool = True
) -> int:
    """Store many jobs at once, row for row what ``create_job`` stores, in batches; for
    imports of history and benchmarks. Jobs with files or messages go through
    ``create_job``.

    Values are prepared here in the form the database stores them (UTC timestamps, JSON
    text) and handed to the driver's own bulk path (``executemany`` on SQLite, ``COPY`` on
    PostgreSQL) in the session's transaction: SQLAlchemy's per-value processing would
    otherwise cost most of the time. ``commit=False`` leaves the rows to the caller's
    transaction (then ``batch`` only bounds each statement).
    """
    sqlite = db.engine.dialect.name == "sqlite"

    def stamp(value: datetime) -> Any:
        # SQLite keeps UTC text in SQLAlchemy's format; PostgreSQL an aware timestamp.
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else value

    now = utcnow()
    stored = 0
    rows: list[tuple[Any, ...]] = []
    counts: Counter[tally.Key] = Counter()
    for new in new_jobs:
        if new.files or new.messages:
            raise ValueError("jobs with files or messages go through create_job")
        public_id = new_public_id()
        created_at = new.created_at or now
        updated_at = new.updated_at or created_at
        trigger = Trigger(new.trigger).value
        status = JobStatus(new.status).value
        history = _stage_history(new, now)
        line = csv_line(
            public_id,
            new.external_id,
            new.type,
            new.posted_by,
            trigger,
            new.sis_type,
            updated_at,
            created_at,
            new.stage,
            status,
        )
        rows.append(
            (
                public_id,
                tenant_id,
                new.external_id,
                new.type,
                new.posted_by,
                trigger,
                new.sis_type,
                new.stage,
                status,
                json.dumps(new.change_counts) if new.change_counts else "{}",
                json.dumps(history) if history else "[]",
                new.request_fingerprint,
                stamp(created_at),
                stamp(updated_at),
                line,
            )
        )
        tally.count(counts, [(tenant_id, updated_at, status, trigger)], +1)
        if len(rows) >= batch:
            stored += _insert_batch(tenant_id, rows, counts, commit)
    return stored + _insert_batch(tenant_id, rows, counts, commit)


def _insert_batch(
    tenant_id: int, rows: list[tuple[Any, ...]], counts: Counter[tally.Key], commit: bool
) -> int:
    count = len(rows)
    if count:
        names = ", ".join(f'"{name}"' for name in _BULK_COLUMNS)
        # A connection in use has its driver connection (typed Optional for a closed one).
        cursor = db.session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if db.engine.dialect.name == "postgresql":
                with cursor.copy(f"COPY rostering_job ({names}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join("?" * len(_BULK_COLUMNS))
                insert = f"INSERT INTO rostering_job ({names}) VALUES ({marks})"  # noqa: S608
                cursor.executemany(insert, rows)
        finally:
            cursor.close()
        count_new_jobs(tenant_id, count)
        tally.add(db.session.connection(), counts)
        if commit:
            db.session.commit()
        rows.clear()
        counts.clear()
    return count


def _stage_history(new: NewJob, now: datetime) -> list[dict[str, str]]:
    """A new job's stage history: as reported, or starting at its first stage."""
    if new.stage_history is not None:
        return new.stage_history
    if new.stage:
        return [{"stage": new.stage, "at": (new.created_at or now).isoformat()}]
    return []


def count_new_jobs(tenant_id: int, added: int) -> None:
    """Add to the tenant's stored job count, in the transaction that adds the jobs."""
    db.session.execute(
        update(Tenant).where(Tenant.id == tenant_id).values(job_count=Tenant.job_count + added)
    )


def fingerprint(body: Any) -> str:
    """A stable hash of a request body, to tell a retry from a different request."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def create_job_once(
    tenant_id: int,
    new: NewJob,
    body_fingerprint: str,
    before_commit: Callable[[RosteringJob], None] | None = None,
) -> tuple[RosteringJob, bool]:
    """Create a job, idempotently on its external id: the same body again returns the stored
    job (``created`` False); a different body for a stored external id is a ``JobConflict``.
    ``before_commit`` finishes a new job in the same transaction (linking its Canvas import).

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
    new.request_fingerprint = body_fingerprint
    job = create_job(tenant_id, new, commit=False)
    if before_commit is not None:
        db.session.flush()
        before_commit(job)
    if job.status_enum.is_final:
        record_event(job, job.status)
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


def _driver_integrity_error() -> type[Exception]:
    """The database driver's own IntegrityError (a bulk insert through the driver raises it
    unwrapped)."""
    dbapi = db.engine.dialect.dbapi
    return dbapi.IntegrityError if dbapi is not None else IntegrityError


class _Raced(Exception):
    """Another request stored some of the same jobs between our check and our insert."""


def import_jobs(tenant_id: int, new_jobs: list[NewJob]) -> list[tuple[str, bool]]:
    """Store past jobs all or none, idempotently on their external ids: a job stored before
    with the same fingerprint is a retry, with another a ``JobConflict`` (nothing stored).
    Returns each job's public id and whether it was created, in order. Plain jobs take the
    bulk path; jobs with files or messages are created one by one, in the same transaction.

    An import that races another for the same ids starts over, its check included.
    """
    for _ in range(5):
        try:
            return _import_once(tenant_id, new_jobs)
        except _Raced:
            continue
    raise JobConflict("other requests keep storing these jobs at the same moment; send again")


def _import_once(tenant_id: int, new_jobs: list[NewJob]) -> list[tuple[str, bool]]:
    wanted = [new.external_id for new in new_jobs]
    stored = {
        row.external_id: row
        for row in db.session.execute(
            select(
                RosteringJob.external_id, RosteringJob.public_id, RosteringJob.request_fingerprint
            ).where(RosteringJob.tenant_id == tenant_id, RosteringJob.external_id.in_(wanted))
        )
    }
    changed = [
        new.external_id
        for new in new_jobs
        if new.external_id in stored
        and stored[new.external_id].request_fingerprint != new.request_fingerprint
    ]
    if changed:
        raise JobConflict(
            f"{len(changed)} of these external ids are stored with other values: "
            + ", ".join(changed[:10])
            + (" …" if len(changed) > 10 else "")
        )
    fresh = [new for new in new_jobs if new.external_id not in stored]
    try:
        insert_jobs(tenant_id, [n for n in fresh if not (n.files or n.messages)], commit=False)
        for new in fresh:
            if new.files or new.messages:
                create_job(tenant_id, new, commit=False)
        db.session.commit()
    except (IntegrityError, _driver_integrity_error()) as exc:
        db.session.rollback()
        raise _Raced from exc
    public_ids = dict(
        db.session.execute(
            select(RosteringJob.external_id, RosteringJob.public_id).where(
                RosteringJob.tenant_id == tenant_id,
                RosteringJob.external_id.in_([new.external_id for new in fresh]),
            )
        ).all()
    )
    return [
        (stored[ext].public_id, False) if ext in stored else (public_ids[ext], True)
        for ext in wanted
    ]


def update_job(
    job: RosteringJob,
    changes: JobChanges,
    before_commit: Callable[[RosteringJob], None] | None = None,
) -> RosteringJob:
    """Apply an agent's update. Completed, Warning and Failed are final; a completed job has
    no stage. Everything is checked before anything changes; ``updated_at`` always moves.
    ``before_commit`` finishes the change in the same transaction (linking a Canvas import)."""
    current = job.status_enum
    status = changes.status or current
    if current.is_final and status is not current:
        raise JobConflict(f"the job is {current.label}, which is final")
    # (The approval is read only for a job at the guard's stage: a PATCH pays nothing else.)
    held = (
        job.stage == AWAITING_APPROVAL
        and job.approval is not None
        and job.approval.state == ApprovalState.PENDING
    )
    if held and status is not JobStatus.FAILED:
        # Only giving up is allowed while an admin has not decided.
        raise JobConflict(
            "the job waits for an admin's approval (change guard); it may only be failed"
        )
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
    if before_commit is not None:
        before_commit(job)
    if not current.is_final and job.status_enum.is_final:
        record_event(job, job.status)
    db.session.commit()
    return job


def record_event(job: RosteringJob, kind: str, facts: dict[str, Any] | None = None) -> None:
    """Note, in the transaction of the change, that the job reached a final status, was held,
    undone or is stuck (a ``JobEvent``: the alerts worker tells whoever asked to hear of it),
    with what the alert says beyond the job (``facts``)."""
    db.session.add(JobEvent(tenant_id=job.tenant_id, job=job, kind=kind, facts=facts))
    if kind in {status.value for status in JobStatus}:  # a final status (not held, undone…)
        counters.JOBS_FINISHED.labels(kind, job.trigger).inc()


def record_news(tenant_id: int, facts: dict[str, Any], kind: str = SETTINGS) -> None:
    """Note, in the transaction of the change, news of the institution itself (no job: its
    safeguards or access changed, ``SETTINGS``; a blackout near, ``BLACKOUT``) for the alerts
    worker to tell."""
    db.session.add(JobEvent(tenant_id=tenant_id, job=None, kind=kind, facts=facts))
