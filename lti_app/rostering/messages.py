"""A job's errors and warnings, read a page at a time: a Canvas import may list 50,000 rows,
and neither the Details window, nor the agent API, nor an alert loads them all to show a few.

Pages are keyset pages on the message's id (the order they were stored: an import's failures
first, then its warnings, each in Canvas's order), found through the (job_id, id) index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import case, func, select

from ..extensions import db
from .export import line_of, safe_cell
from .models import JobMessage

PAGE = 100
CSV_BATCH = 1000
CSV_HEADER = ("File", "Row", "Severity", "Message", "Row text")


@dataclass(frozen=True)
class FileCount:
    """Errors and warnings of one file."""

    file: str
    errors: int
    warnings: int


# What a page shows of each message: plain rows, not ORM objects (a page of 100 costs a third
# less to read).
_SHOWN = select(
    JobMessage.id,
    JobMessage.severity,
    JobMessage.file,
    JobMessage.row,
    JobMessage.message,
    JobMessage.row_info,
)


@dataclass(frozen=True)
class Page:
    """A page of a job's messages (id, severity, file, row, message, row_info) and whether
    there are more on either side."""

    rows: list[Any]
    more_before: bool
    more_after: bool


def counts_by_file(job_id: int) -> list[FileCount]:
    """The job's errors and warnings counted by file, files in name order."""
    errors = func.sum(case((JobMessage.severity == "error", 1), else_=0))
    rows = db.session.execute(
        select(JobMessage.file, errors, func.count() - errors)
        .where(JobMessage.job_id == job_id)
        .group_by(JobMessage.file)
        .order_by(JobMessage.file)
    )
    counted = cast("Iterable[tuple[str, int | None, int | None]]", rows)
    return [FileCount(file, int(e or 0), int(w or 0)) for file, e, w in counted]


def page(
    job_id: int, *, after: int | None = None, before: int | None = None, size: int = PAGE
) -> Page:
    """The ``size`` messages after the message ``after`` (or before ``before``; else the
    first ones)."""
    after, before = _clamped(after), _clamped(before)
    stmt = _SHOWN.where(JobMessage.job_id == job_id)
    if before is not None:
        rows = list(
            db.session.execute(
                stmt.where(JobMessage.id < before).order_by(JobMessage.id.desc()).limit(size + 1)
            )
        )
        more_before = len(rows) > size
        return Page(rows[:size][::-1], more_before, True)
    if after is not None:
        stmt = stmt.where(JobMessage.id > after)
    rows = list(db.session.execute(stmt.order_by(JobMessage.id).limit(size + 1)))
    return Page(rows[:size], after is not None, len(rows) > size)


def _clamped(message_id: int | None) -> int | None:
    """An id from a link, within what every database compares alike (the id column is a
    32-bit integer on PostgreSQL)."""
    return None if message_id is None else min(max(message_id, 0), 2**31 - 1)


def cursor_of(message: Any) -> str:
    """Where a page that ends with ``message`` leaves off, as the API's cursor."""
    return str(message.id)


def read_cursor(text: str | None) -> int | None:
    """The message id a cursor names, or None when it is not one this API gave."""
    if text is None or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def summaries(job_id: int) -> list[dict[str, Any]]:
    """Every message's severity, file and text, in order: what an alert counts by kind."""
    return [
        {"severity": severity, "file": file, "message": message}
        for severity, file, message in db.session.execute(
            select(JobMessage.severity, JobMessage.file, JobMessage.message)
            .where(JobMessage.job_id == job_id)
            .order_by(JobMessage.id)
        )
    ]


def csv_chunks(job_id: int) -> Iterator[str]:
    """The job's errors and warnings as CSV (file, row, severity, message, row text), a
    thousand lines a chunk, read a keyset batch at a time so the whole list never sits in
    memory. Text the agent or Canvas wrote is neutralised for spreadsheets."""
    yield line_of(CSV_HEADER)
    last = 0
    while True:
        rows = db.session.execute(
            select(
                JobMessage.id,
                JobMessage.file,
                JobMessage.row,
                JobMessage.severity,
                JobMessage.message,
                JobMessage.row_info,
            )
            .where(JobMessage.job_id == job_id, JobMessage.id > last)
            .order_by(JobMessage.id)
            .limit(CSV_BATCH)
        ).all()
        if not rows:
            return
        yield "".join(
            line_of(
                (
                    safe_cell(file),
                    "" if row is None else row,
                    severity,
                    safe_cell(message),
                    safe_cell(row_info or ""),
                )
            )
            for _, file, row, severity, message, row_info in rows
        )
        last = rows[-1][0]
