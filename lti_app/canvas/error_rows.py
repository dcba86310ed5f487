"""Every row Canvas refused: a finished import's errors, read once from the SIS Import Errors
API and kept as the job's messages for as long as the history is kept (Canvas keeps them 30
days; the import's own JSON carries only the first few, "and 46 more errors").

Canvas's own split decides the severity: the rows listed with ``failure=true`` failed the
import (errors), the others are warnings. Canvas lists both from the same scope in the same
order (newest first), so the failures are a subsequence of the whole list: the read stores the
failures first, then walks the whole list, stepping over each failure where it meets it again.

Fair to every institution: at most ``PAGES_PER_PASS`` pages of an import per pass, each page
committed with the read's place, so the next pass goes on where this one stopped and a page is
stored once whatever the interruptions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from ..extensions import db
from ..i18n import N_
from ..rostering.canvas_imports import announce_final, row_key, store_rows, stored_keys
from ..rostering.messages import FileCount, counts_by_file
from ..rostering.models import RosteringJob
from ..timeutil import utcnow
from .client import AccountRefused, CanvasClient, CanvasUnavailable, ScopeMissing
from .models import CanvasConnection, ErrorRead, ReadPhase

log = logging.getLogger(__name__)
PAGES_PER_PASS = 20
# "Import errors are only stored for 30 days" (Canvas's SIS Import Errors API).
CANVAS_KEEPS = timedelta(days=30)
ERROR, WARNING = "error", "warning"
KEPT_NOTE = N_("Canvas keeps error rows for 30 days: these are the ones the import itself lists.")


def _counted(data: dict[str, Any], key: str) -> int | None:
    value = ((data.get("data") or {}).get("counts") or {}).get(key)
    return value if type(value) is int and value >= 0 else None


def has_rows(data: dict[str, Any]) -> bool:
    """Whether a finished import has error rows to read: errors or warnings listed, counted,
    or an errors attachment."""
    return bool(
        data.get("processing_errors")
        or data.get("processing_warnings")
        or data.get("errors_attachment")
        or _counted(data, "error_count")
        or _counted(data, "warning_count")
    )


def begin(
    job: RosteringJob, data: dict[str, Any], *, announce: bool, now: datetime | None = None
) -> ErrorRead:
    """Start reading a finished import's rows; one older than Canvas keeps them keeps its
    own list (and its news is told now). Where the import counts none of one kind
    (``data.counts``: Canvas's ``error_count`` and ``warning_count``), that list is not read.
    The caller commits."""
    now = now or utcnow()
    read = ErrorRead(
        job_id=job.id,
        tenant_id=job.tenant_id,
        import_id=job.canvas_sis_import_id,
        ended_at=job.updated_at,
        phase=ReadPhase.ALL if _counted(data, "error_count") == 0 else ReadPhase.FAILURES,
        warnings_expected=_counted(data, "warning_count") != 0,
        announce=announce,
        next_url=None,
        stored=0,
        failures=0,
        matched=0,
        pages=0,
    )
    db.session.add(read)
    if now - job.updated_at > CANVAS_KEEPS:
        _end(read, ReadPhase.KEPT, now)
    return read


def _end(read: ErrorRead, phase: str, now: datetime) -> None:
    read.phase = phase
    read.next_url = None
    read.finished_at = now
    if phase == ReadPhase.DONE:
        db.session.flush()
        read.by_file = [[c.file, c.errors, c.warnings] for c in counts_by_file(read.job_id)]
    if read.announce:
        read.announce = False
        announce_final(read.job_id)


def pending(tenant_id: int) -> list[ErrorRead]:
    """The tenant's reads still going, oldest import first."""
    return list(
        db.session.scalars(
            select(ErrorRead)
            .where(
                ErrorRead.tenant_id == tenant_id,
                ErrorRead.phase.in_((ReadPhase.FAILURES, ReadPhase.ALL)),
            )
            .order_by(ErrorRead.job_id)
        )
    )


def abandon(tenant_id: int) -> None:
    """The institution disconnected: its reads stop where they are, and the news they were
    holding back is told now. The caller commits."""
    now = utcnow()
    for read in pending(tenant_id):
        _end(read, ReadPhase.DONE if read.stored else ReadPhase.KEPT, now)


def read_pending(
    connection: CanvasConnection, client: CanvasClient, renew: Callable[[], None]
) -> bool:
    """Go on with the tenant's reads, ``PAGES_PER_PASS`` pages of each at most; True when
    some are left for the next pass. A token without the errors scope stops them all until
    the institution reconnects (their news is told now, with the import's own list)."""
    if connection.errors_scope_missing:
        return False
    reads = pending(connection.tenant_id)
    for read in reads:
        try:
            read_some(read, client, renew)
        except ScopeMissing:
            db.session.rollback()
            scope_missing(connection)
            return False
        except AccountRefused as exc:
            # Canvas will not list this import's rows (gone, or not this token's to read):
            # the import's own list stays; the mirror itself goes on unharmed.
            db.session.rollback()
            log.warning(
                "tenant %s: import %s's rows refused: %s", read.tenant_id, read.import_id, exc
            )
            _end(read, ReadPhase.KEPT, utcnow())
            db.session.commit()
        except CanvasUnavailable as exc:
            db.session.rollback()
            log.warning("tenant %s: error rows wait for the next pass: %s", read.tenant_id, exc)
            return True
    return any(read.reading for read in reads)


def scope_missing(connection: CanvasConnection) -> None:
    """Canvas refused the errors API for lack of its scope: say so, stop asking, and tell the
    news the reads were holding back."""
    log.warning("tenant %s: the token lacks the SIS Import Errors scope", connection.tenant_id)
    connection.errors_scope_missing = True
    for read in pending(connection.tenant_id):
        if read.announce:
            read.announce = False
            announce_final(read.job_id)
    db.session.commit()


def read_some(
    read: ErrorRead,
    client: CanvasClient,
    renew: Callable[[], None],
    pages: int = PAGES_PER_PASS,
) -> None:
    """Read up to ``pages`` pages of one import's rows, committing each with the read's place."""
    for _ in range(pages):
        now = utcnow()
        if read.stored == 0 and now - read.ended_at > CANVAS_KEEPS:
            _end(read, ReadPhase.KEPT, now)  # waited past Canvas's 30 days (a reconnect)
        elif read.phase == ReadPhase.FAILURES:
            rows, read.next_url = client.error_page(read.import_id, failure=True, url=read.next_url)
            store_rows(read.job_id, rows, ERROR, read.stored)
            read.stored += len(rows)
            if read.next_url is None:
                read.phase, read.failures = ReadPhase.ALL, read.stored
                if not read.warnings_expected:
                    _end(read, ReadPhase.DONE if read.stored else ReadPhase.KEPT, now)
        else:
            rows, read.next_url = client.error_page(
                read.import_id, failure=False, url=read.next_url
            )
            _store_warnings(read, rows)
            if read.next_url is None:
                # Nothing listed at all (Canvas let the rows go): the import's own list stays.
                _end(read, ReadPhase.DONE if read.stored else ReadPhase.KEPT, now)
        read.pages += 1
        db.session.commit()
        renew()
        if not read.reading:
            return


def _store_warnings(read: ErrorRead, rows: list[dict[str, Any]]) -> None:
    """A page of the whole list: each row is a warning, unless it is the next failure."""
    failures = stored_keys(read.job_id, read.matched, min(len(rows), read.failures - read.matched))
    warnings = []
    for row in rows:
        if failures and read.matched < read.failures and row_key(row) == failures[0]:
            failures.pop(0)
            read.matched += 1
        else:
            warnings.append(row)
    store_rows(read.job_id, warnings, WARNING, read.stored)
    read.stored += len(warnings)


def for_job(job_id: int) -> ErrorRead | None:
    """A job's read of its import's rows, if it has one."""
    return db.session.get(ErrorRead, job_id)


def counted(job_id: int, read: ErrorRead | None) -> list[FileCount]:
    """The job's errors and warnings by file: kept with a finished read, else counted."""
    if read is not None and read.phase == ReadPhase.DONE and read.by_file is not None:
        return [FileCount(*entry) for entry in read.by_file]
    return counts_by_file(job_id)
