"""The mirror: each Canvas SIS import becomes (or updates) one rostering job.

The first poll walks the whole history, newest first, saving its place after each page;
later polls ask only for imports created since the newest one seen (with an overlap, since
Canvas stamps an import when it is created, not when it is listed) and, by id, for each import
the history still shows as running. An idle institution costs one request a poll.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..extensions import db
from ..rostering import retention
from ..rostering.canvas_imports import (
    IMPORT_STAGE,
    ImportReport,
    record_imports,
    unfinished_import_ids,
)
from ..rostering.models import RESTORING, SCHEDULED_POSTER, JobStatus
from ..timeutil import as_utc, utcnow
from . import error_rows
from .client import CanvasClient
from .models import CanvasConnection

log = logging.getLogger(__name__)

# Canvas's workflow_state of a SIS import, as the Rostering Jobs list shows it.
STATUS_BY_STATE = {
    "initializing": JobStatus.IN_PROGRESS,
    "created": JobStatus.IN_PROGRESS,
    "importing": JobStatus.IN_PROGRESS,
    "cleanup_batch": JobStatus.IN_PROGRESS,
    "restoring": JobStatus.IN_PROGRESS,
    "imported": JobStatus.COMPLETED,
    "restored": JobStatus.COMPLETED,
    "imported_with_messages": JobStatus.WARNING,
    "partially_restored": JobStatus.WARNING,
    "failed": JobStatus.FAILED,
    "failed_with_messages": JobStatus.FAILED,
    "aborted": JobStatus.FAILED,
}
# Canvas names statistics by model; the change details use the names of the CSV files.
OBJECT_NAMES = {
    "Account": "accounts",
    "EnrollmentTerm": "terms",
    "AbstractCourse": "abstract_courses",
    "Course": "courses",
    "CourseSection": "sections",
    "GroupCategory": "group_categories",
    "Group": "groups",
    "GroupMembership": "group_memberships",
    "User": "users",
    "UserObserver": "user_observers",
    "Enrollment": "enrollments",
    "AccountUser": "admins",
    "Pseudonym": "logins",
    "ChangeSisId": "change_sis_ids",
}
# New imports are looked for from the newest one seen, less this much.
OVERLAP = timedelta(minutes=5)


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _time(value: Any) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def change_counts(data: dict[str, Any]) -> dict[str, dict[str, int]]:
    """Change details from the import's statistics (created; concluded, deactivated and
    restored as updated; deleted), with the rows processed per file (``data.counts``) beside
    them as ``processed``. Imports without statistics have only those rows: they show as
    updated, batch-mode deletions as deleted."""
    statistics = data.get("statistics") or (data.get("data") or {}).get("statistics")
    rows = (data.get("data") or {}).get("counts")
    counts: dict[str, dict[str, int]] = {}
    if isinstance(statistics, dict):
        for model, stats in statistics.items():
            if not isinstance(stats, dict):
                continue  # total_state_changes
            changed = {
                "created": _count(stats.get("created")),
                "updated": sum(
                    _count(stats.get(k)) for k in ("concluded", "deactivated", "restored")
                ),
                "deleted": _count(stats.get("deleted")),
            }
            if any(changed.values()):
                counts[OBJECT_NAMES.get(model, model.lower())] = changed
        if isinstance(rows, dict):
            for name, value in rows.items():
                if name in ("error_count", "warning_count") or name.startswith("batch_"):
                    continue
                if _count(value):
                    entry = counts.setdefault(name, {"created": 0, "updated": 0, "deleted": 0})
                    entry["processed"] = _count(value)
        return counts
    if isinstance(rows, dict):
        for name, value in rows.items():
            if name in ("error_count", "warning_count") or not _count(value):
                continue
            if name.startswith("batch_") and name.endswith("_deleted"):
                entry = counts.setdefault(name[6:-8], {"created": 0, "updated": 0, "deleted": 0})
                entry["deleted"] += _count(value)
            else:
                entry = counts.setdefault(name, {"created": 0, "updated": 0, "deleted": 0})
                entry["updated"] += _count(value)
    return counts


def _messages(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Canvas's [file, message] pairs, its "and N more" line kept as it is."""
    messages = []
    for severity, key in (("error", "processing_errors"), ("warning", "processing_warnings")):
        for item in data.get(key) or []:
            if isinstance(item, list | tuple) and len(item) >= 2:
                file, text = str(item[0] or ""), str(item[1] or "")
            else:
                file, text = "", str(item)
            if text:
                messages.append({"severity": severity, "file": file[:255], "message": text})
    return messages


def to_report(data: dict[str, Any]) -> ImportReport:
    """One SIS import, as Canvas's JSON describes it, in the job store's words."""
    state = str(data.get("workflow_state") or "")
    status = STATUS_BY_STATE.get(state, JobStatus.IN_PROGRESS)
    if state == "restoring":
        stage = RESTORING  # the undo's worker adds the Progress's figure ("Restoring (45%)")
    elif status is JobStatus.IN_PROGRESS:
        progress = data.get("progress")
        stage = (
            f"{IMPORT_STAGE} ({progress}%)" if isinstance(progress, int | float) else IMPORT_STAGE
        )
    else:
        stage = "" if status is JobStatus.COMPLETED else IMPORT_STAGE
    user = data.get("user")
    name = user.get("name") if isinstance(user, dict) else None
    created = _time(data.get("created_at")) or utcnow()
    updated = _time(data.get("ended_at")) or _time(data.get("updated_at")) or created
    if state in ("restoring", "restored", "partially_restored"):
        # An undo changes the import's state (and Canvas's updated_at) long after it ended:
        # the job's Time Updated is the undo's, so a restoring import is not "no progress".
        updated = max(updated, _time(data.get("updated_at")) or updated)
    import_type = (data.get("data") or {}).get("import_type")
    return ImportReport(
        import_id=int(data["id"]),
        posted_by=(
            name.strip()[:255] if isinstance(name, str) and name.strip() else SCHEDULED_POSTER
        ),
        sis_type=str(import_type)[:255] if import_type else "instructure_csv",
        status=status,
        stage=stage,
        change_counts=change_counts(data),
        messages=_messages(data),
        json_text=json.dumps(data, ensure_ascii=False),
        created_at=created,
        updated_at=max(updated, created),
        rows_to_read=status.is_final and error_rows.has_rows(data),
        restoring=state == "restoring",
        restored=state in ("restored", "partially_restored"),
    )


@dataclass
class PollResult:
    """What one poll did."""

    changed: int = 0  # jobs created or updated
    running: bool = False  # an import is still running, or rows are left to read: soon again


def store(connection: CanvasConnection, imports: Iterable[dict[str, Any]]) -> int:
    """Store or update the jobs of imports as Canvas sent them; how many changed. The caller
    commits."""
    reports = []
    sent: dict[int, dict[str, Any]] = {}
    for data in imports:
        try:
            reports.append(to_report(data))
        except (KeyError, TypeError, ValueError):
            log.warning("skipped a SIS import Canvas sent without a usable id")
        else:
            sent[reports[-1].import_id] = data
    for report in reports:
        if connection.newest_created_at is None or report.created_at > connection.newest_created_at:
            connection.newest_created_at = report.created_at
    before = retention.cutoff(connection.tenant_id)
    if before is not None:  # older than the institution keeps: not stored to be purged
        reports = [r for r in reports if r.updated_at >= before or not r.status.is_final]
    # The first read of a history tells nobody: only what finishes from now on is news.
    recorded = record_imports(connection.tenant_id, reports, announce=connection.backfill_done)
    for job in recorded.to_read:
        import_id = job.canvas_sis_import_id
        if import_id is not None and error_rows.for_job(job.id) is None:
            error_rows.begin(job, sent[import_id], announce=connection.backfill_done)
    return recorded.changed


def poll(
    connection: CanvasConnection, client: CanvasClient, renew: Callable[[], None]
) -> PollResult:
    """Bring the tenant's history in step with Canvas. Each page is committed with the
    mirror's place, so a poll cut short resumes where it stopped; ``renew`` keeps the
    worker's lease after each page."""
    result = PollResult()
    if not connection.backfill_done:
        params: dict[str, Any] = {}
        if connection.backfill_before is not None:
            # A second more than the oldest import stored: imports created in the same second
            # may straddle the page boundary; storing one again changes nothing.
            params["created_before"] = connection.backfill_before + timedelta(seconds=1)
        for page in client.import_pages(**params):
            result.changed += store(connection, page)
            times = [t for t in (_time(d.get("created_at")) for d in page) if t is not None]
            if times:
                connection.backfill_before = min(times)
            db.session.commit()
            renew()
        connection.backfill_done = True
        db.session.commit()
    else:
        params = {}
        if connection.newest_created_at is not None:
            params["created_since"] = connection.newest_created_at - OVERLAP
        seen: set[int] = set()
        for page in client.import_pages(**params):
            result.changed += store(connection, page)
            seen.update(d["id"] for d in page if isinstance(d.get("id"), int))
            db.session.commit()
            renew()
        for import_id in unfinished_import_ids(connection.tenant_id):
            if import_id not in seen:
                result.changed += store(connection, [client.get_import(import_id)])
                db.session.commit()
    rows_left = error_rows.read_pending(connection, client, renew)
    result.running = rows_left or bool(unfinished_import_ids(connection.tenant_id))
    return result
