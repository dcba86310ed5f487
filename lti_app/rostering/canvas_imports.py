"""Jobs that are Canvas SIS imports: stored as their own row, or absorbed by the agent's job
that names them. The job store's side of the mirror; it knows nothing of Canvas's REST API.

A Canvas SIS import is one job per tenant, found by ``canvas_sis_import_id`` (a unique key):
the mirror writes it here, and an agent job that names the import takes the mirrored row's
place, so the list never shows the same sync twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..timeutil import utcnow
from .models import (
    CANVAS_IMPORT,
    RESTORING,
    SCHEDULED_POSTER,
    SIS_IMPORT,
    JobFile,
    JobMessage,
    JobStatus,
    RosteringJob,
    Trigger,
)
from .writing import JobConflict, NewJob, count_new_jobs, create_job, record_event

IMPORT_TYPE = SIS_IMPORT
IMPORT_STAGE = CANVAS_IMPORT
IMPORT_FILE = "canvas_sis_import.json"
CANVAS = "canvas"
TOOL = "tool"  # the source of the lines the tool itself adds to a job ("Stopped by …")


def mirrored_external_id(import_id: int) -> str:
    """The external id of a job that mirrors a Canvas import on its own."""
    return f"canvas-sis-import-{import_id}"


@dataclass
class ImportReport:
    """What one Canvas SIS import says about a sync, in the job store's words."""

    import_id: int
    posted_by: str
    sis_type: str
    status: JobStatus
    stage: str  # "Canvas Import (40%)" while it runs
    change_counts: dict[str, dict[str, int]]
    messages: list[dict[str, Any]]  # severity, file, message (the import's capped list)
    json_text: str  # the import as Canvas sent it
    created_at: datetime
    updated_at: datetime
    # Every row of its errors is to be read once it is final: its news waits for them.
    rows_to_read: bool = False
    # Canvas is undoing the import (``restoring``), or has undone it (``restored``,
    # ``partially_restored``): the job follows, but a restore's end is not a sync's news
    # (the undo's own ``sync.restored`` tells it).
    restoring: bool = False
    restored: bool = False


@dataclass
class Recorded:
    """What storing a page of imports did: how many jobs changed, and which of them reached a
    final status with rows still to read (their news is told when the rows are in)."""

    changed: int = 0
    to_read: list[RosteringJob] = field(default_factory=list)


def _import_jobs(tenant_id: int, import_ids: list[int]) -> dict[int, RosteringJob]:
    """The tenant's jobs of these Canvas imports, with their files and messages, by import."""
    jobs = db.session.scalars(
        select(RosteringJob)
        .where(
            RosteringJob.tenant_id == tenant_id,
            RosteringJob.canvas_sis_import_id.in_(import_ids),
        )
        .options(selectinload(RosteringJob.files))
    )
    return {job.canvas_sis_import_id: job for job in jobs if job.canvas_sis_import_id}


def _import_job(tenant_id: int, import_id: int) -> RosteringJob | None:
    return _import_jobs(tenant_id, [import_id]).get(import_id)


def _is_mirror_row(job: RosteringJob) -> bool:
    return job.canvas_sis_import_id is not None and job.external_id == mirrored_external_id(
        job.canvas_sis_import_id
    )


def _canvas_messages(report: ImportReport) -> list[JobMessage]:
    return [JobMessage(source=CANVAS, row=None, **message) for message in report.messages]


def _has_read_rows(job: RosteringJob) -> bool:
    """Whether every row of the job's import is (being) stored in place of its capped list."""
    return job.id is not None and bool(
        db.session.scalar(
            select(JobMessage.id)
            .where(JobMessage.job_id == job.id, JobMessage.position.is_not(None))
            .limit(1)
        )
    )


def _stored_json(job: RosteringJob) -> str | None:
    return next((f.content for f in job.files if f.name == IMPORT_FILE), None)


def record_imports(tenant_id: int, reports: list[ImportReport], *, announce: bool) -> Recorded:
    """Store or update the jobs of a page of Canvas imports (a re-poll of imports stored as
    they are changes nothing). One query finds the stored jobs and the new ones are inserted
    together. With ``announce``, a job that reaches a final status is an event for the alerts
    (not while the first read of a history runs), unless its rows are still to read. The
    caller commits."""
    latest = {report.import_id: report for report in reports}
    stored = _import_jobs(tenant_id, list(latest))
    recorded = Recorded()
    for import_id, report in latest.items():
        job = stored.get(import_id)
        if job is not None and _stored_json(job) != report.json_text:
            _update(job, report, announce, recorded)
    fresh = [report for import_id, report in latest.items() if import_id not in stored]
    if not fresh:
        return recorded
    savepoint = db.session.begin_nested()
    attempt = Recorded(recorded.changed, list(recorded.to_read))
    try:
        for report in fresh:
            _create(tenant_id, report, announce, attempt)
        count_new_jobs(tenant_id, len(fresh))
        db.session.flush()
        savepoint.commit()
    except IntegrityError:
        # An agent named one of these imports a moment ago: one at a time, then.
        savepoint.rollback()
        for report in fresh:
            _record_one(tenant_id, report, announce, recorded)
        return recorded
    return attempt


def _record_one(tenant_id: int, report: ImportReport, announce: bool, recorded: Recorded) -> None:
    job = _import_job(tenant_id, report.import_id)
    if job is None:
        savepoint = db.session.begin_nested()
        try:
            _create(tenant_id, report, announce, recorded)
            count_new_jobs(tenant_id, 1)
            db.session.flush()
            savepoint.commit()
            return
        except IntegrityError:
            savepoint.rollback()
            job = _import_job(tenant_id, report.import_id)
            if job is None:
                raise
    if _stored_json(job) != report.json_text:
        _update(job, report, announce, recorded)


def _finished(job: RosteringJob, report: ImportReport, announce: bool, recorded: Recorded) -> None:
    """The job has just reached a final status: news now, or once its rows are read."""
    if report.rows_to_read:
        recorded.to_read.append(job)
    elif announce:
        record_event(job, job.status)


def _update(job: RosteringJob, report: ImportReport, announce: bool, recorded: Recorded) -> None:
    was_final = job.status_enum.is_final
    _apply(job, report)
    recorded.changed += 1
    if not was_final and job.status_enum.is_final and not report.restored:
        _finished(job, report, announce, recorded)


def _create(
    tenant_id: int, report: ImportReport, announce: bool, recorded: Recorded
) -> RosteringJob:
    new = NewJob(
        external_id=mirrored_external_id(report.import_id),
        type=IMPORT_TYPE,
        posted_by=report.posted_by,
        trigger=Trigger.SCHEDULED if report.posted_by == SCHEDULED_POSTER else Trigger.MANUAL,
        sis_type=report.sis_type,
        status=report.status,
        stage=report.stage,
        change_counts=report.change_counts,
        stage_history=[{"stage": IMPORT_STAGE, "at": report.created_at.isoformat()}],
        files=[(IMPORT_FILE, report.json_text)],
        created_at=report.created_at,
        updated_at=report.updated_at,
        canvas_sis_import_id=report.import_id,
    )
    job = create_job(tenant_id, new, commit=False, counted=False)
    job.messages = _canvas_messages(report)
    recorded.changed += 1
    if report.status.is_final:
        _finished(job, report, announce, recorded)
    return job


def _apply(job: RosteringJob, report: ImportReport) -> None:
    """Bring a job in line with its import: the mirrored row takes everything; an agent's job
    gains the import's file, counts and messages, and its final status follows Canvas's."""
    by_name = {f.name: f for f in job.files}
    if IMPORT_FILE in by_name:
        by_name[IMPORT_FILE].content = report.json_text
    else:
        job.files.append(JobFile(name=IMPORT_FILE, content=report.json_text))
    if not _has_read_rows(job):
        job.messages = [m for m in job.messages if m.source != CANVAS] + _canvas_messages(report)
    if report.change_counts:
        job.change_counts = report.change_counts
    mirror = _is_mirror_row(job)
    if mirror:
        job.posted_by = report.posted_by
        job.sis_type = report.sis_type
    if (
        mirror
        or report.status.is_final
        or report.restoring
        or job.status_enum is JobStatus.IN_PROGRESS
    ):
        if report.stage and report.stage != job.stage:
            job.stage_history = [
                *job.stage_history,
                {"stage": report.stage, "at": utcnow().isoformat()},
            ]
        job.stage = report.stage
        job.status = report.status.value
    job.updated_at = report.updated_at if mirror else max(utcnow(), job.updated_at)


def link_import(job: RosteringJob, import_id: int) -> None:
    """An agent's job names the Canvas import it ended in: it absorbs the import's mirrored
    row, if there is one, and the mirror updates it from now on. The caller commits."""
    if job.canvas_sis_import_id == import_id:
        return
    if job.canvas_sis_import_id is not None:
        raise JobConflict(f"the job is linked to Canvas SIS import {job.canvas_sis_import_id}")
    other = _import_job(job.tenant_id, import_id)
    if other is not None and not _is_mirror_row(other):
        raise JobConflict(f"Canvas SIS import {import_id} belongs to another job")
    if other is not None:
        report = ImportReport(
            import_id=import_id,
            posted_by=other.posted_by,
            sis_type=other.sis_type,
            status=other.status_enum,
            stage=other.stage,
            change_counts=other.change_counts,
            messages=[
                {"severity": m.severity, "file": m.file, "message": m.message}
                for m in other.messages
                if m.position is None
            ],
            json_text=_stored_json(other) or "{}",
            created_at=other.created_at,
            updated_at=other.updated_at,
        )
        db.session.delete(other)
        count_new_jobs(job.tenant_id, -1)
        db.session.flush()
        job.canvas_sis_import_id = import_id
        _apply(job, report)
    else:
        job.canvas_sis_import_id = import_id


def unfinished_import_ids(tenant_id: int) -> list[int]:
    """The Canvas imports this tenant's jobs are waiting on: linked and still In Progress."""
    return list(
        db.session.scalars(
            select(RosteringJob.canvas_sis_import_id).where(
                RosteringJob.tenant_id == tenant_id,
                RosteringJob.canvas_sis_import_id.is_not(None),
                RosteringJob.status == JobStatus.IN_PROGRESS.value,
            )
        )
    )


def _text(value: Any, limit: int | None = None) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    return text[:limit] if limit else text


def store_rows(job_id: int, rows: list[dict[str, Any]], severity: str, position: int) -> None:
    """Store rows of an import's errors as Canvas lists them (file, row, message, row_info),
    the first at ``position``. The first rows stored take the place of the capped list the
    import's JSON carried. The caller commits, with its place in Canvas's list."""
    if not rows:
        return
    if position == 0:
        db.session.execute(
            delete(JobMessage).where(
                JobMessage.job_id == job_id,
                JobMessage.source == CANVAS,
                JobMessage.position.is_(None),
            )
        )
    db.session.execute(
        insert(JobMessage),
        [
            {
                "job_id": job_id,
                "severity": severity,
                "source": CANVAS,
                "file": _text(row.get("file"), 255),
                "row": row["row"] if type(row.get("row")) is int else None,
                "message": _text(row.get("message")),
                "row_info": _text(row.get("row_info")) or None,
                "position": position + index,
            }
            for index, row in enumerate(rows)
        ],
    )


def row_key(row: dict[str, Any]) -> tuple[str, int | None, str]:
    """What tells one listed row from another: its file, row number and message."""
    number = row.get("row")
    return (
        _text(row.get("file"), 255),
        number if type(number) is int else None,
        _text(row.get("message")),
    )


def stored_keys(job_id: int, start: int, count: int) -> list[tuple[str, int | None, str]]:
    """The keys of the rows stored at positions ``start`` to ``start + count - 1``, in order."""
    return [
        (file, row, message)
        for file, row, message in db.session.execute(
            select(JobMessage.file, JobMessage.row, JobMessage.message)
            .where(
                JobMessage.job_id == job_id,
                JobMessage.position >= start,
                JobMessage.position < start + count,
            )
            .order_by(JobMessage.position)
        )
    ]


def announce_final(job_id: int) -> None:
    """The job's final status is news now (its rows are in, or will not come)."""
    job = db.session.get(RosteringJob, job_id)
    if job is not None and job.status_enum.is_final:
        record_event(job, job.status)


def stored_import(job: RosteringJob) -> dict[str, Any] | None:
    """The Canvas import the job holds, as Canvas last sent it (None when it holds none, or it
    is not JSON)."""
    text = _stored_json(job)
    try:
        document = json.loads(text) if text else None
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def show_restore_progress(job: RosteringJob, completion: float) -> None:
    """While Canvas undoes the job's import, its stage carries the undo's figure ("Restoring
    (45%)"). The caller commits."""
    if job.status_enum is JobStatus.IN_PROGRESS and job.stage.startswith(RESTORING):
        job.stage = f"{RESTORING} ({int(completion)}%)"


def add_note(job: RosteringJob, message: str) -> None:
    """A line of the tool's own on the job ("Stopped by …"), kept when the mirror updates it.
    The caller commits."""
    job.messages.append(JobMessage(severity="error", source=TOOL, message=message))
