"""The Rostering Jobs CSV: one line per job, rendered by the csv module when the job is written,
so a download (``csv_chunks``, the stream) only reads stored lines, at the speed the database
hands them over.

A job's line depends on that job's own columns alone (UTC timestamps, no viewer's zone), so it
is rendered once per insert or update, never per download: a history of a million jobs is a
single-column scan instead of a million rows through Python's CSV writer.

Changing the format (a column, a label) changes every stored line: do it with a migration that
calls ``render_stored_lines``, as the one that added the column (e1b2fdfae900) does.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, event, select
from sqlalchemy.orm import Mapper

from ..extensions import db
from .models import STATUS_LABELS, RosteringJob, new_public_id
from .reading import Narrow, newest_first

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
_FORMULA_FIRST = frozenset("=+-@\t\r")


class _Echo:
    """A file whose write() hands the line back, so that ``writerow`` returns it."""

    @staticmethod
    def write(line: str) -> str:
        return line


# RFC 4180: CRLF line ends, fields quoted only where needed, quotes doubled.
_LINE = csv.writer(_Echo())
HEADER_LINE: str = _LINE.writerow(CSV_HEADER)


def line_of(cells: Iterable[Any]) -> str:
    """One CSV line of these cells, CRLF included."""
    line: str = _LINE.writerow(cells)
    return line


def safe_cell(value: str) -> str:
    """Text a spreadsheet would run as a formula, prefixed with an apostrophe."""
    return "'" + value if value[:1] in _FORMULA_FIRST else value


def _iso_utc(value: datetime) -> str:
    """ISO 8601 UTC to the second, 2026-11-20T15:04:05Z (isoformat: a third of strftime's cost)."""
    return value.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"


def csv_line(
    public_id: str,
    external_id: str,
    type_: str,
    posted_by: str,
    trigger: str,
    sis_type: str,
    updated_at: datetime,
    created_at: datetime,
    stage: str,
    status: str,
) -> str:
    """A job's CSV line, CRLF included. The text that agents and admins wrote is neutralised."""
    line: str = _LINE.writerow(
        (
            public_id,
            safe_cell(external_id),
            safe_cell(type_),
            safe_cell(posted_by),
            trigger,
            safe_cell(sis_type),
            _iso_utc(updated_at),
            _iso_utc(created_at),
            safe_cell(stage),
            STATUS_LABELS[status],
        )
    )
    return line


# The job's columns that its line shows, in the order of csv_line's parameters.
LINE_COLUMNS = (
    "public_id",
    "external_id",
    "type",
    "posted_by",
    "trigger",
    "sis_type",
    "updated_at",
    "created_at",
    "stage",
    "status",
)


def job_csv_line(job: RosteringJob) -> str:
    return csv_line(*(getattr(job, name) for name in LINE_COLUMNS))


@event.listens_for(RosteringJob, "before_insert")
@event.listens_for(RosteringJob, "before_update")
def _render_line(mapper: Mapper[Any], connection: Any, job: RosteringJob) -> None:
    """Every job the ORM writes carries its current line (bulk inserts render their own)."""
    if job.public_id is None:
        job.public_id = new_public_id()
    job.csv_line = job_csv_line(job)


def render_stored_lines(connection: Connection, batch: int = 5000) -> int:
    """Render the line of every stored job again, a batch at a time (for migrations)."""
    job = RosteringJob.__table__.c
    columns = [job[name] for name in LINE_COLUMNS]
    rendered, last = 0, 0
    while rows := connection.execute(
        select(job.id, *columns).where(job.id > last).order_by(job.id).limit(batch)
    ).all():
        connection.execute(
            cast(Table, RosteringJob.__table__).update().where(job.id == bindparam("job_id")),
            [{"job_id": row[0], "csv_line": csv_line(*row[1:])} for row in rows],
        )
        rendered, last = rendered + len(rows), rows[-1][0]
    return rendered


CSV_BATCH = 5000


def csv_chunks(tenant_id: int, narrow: Narrow | None = None) -> Iterator[str]:
    """The tenant's whole history (or what ``narrow`` selects of it) as CSV (RFC 4180, CRLF,
    a header row), newest first.

    Each job's line is stored with the job (export.py); this reads those lines a few thousand
    at a time straight from the driver's cursor (server-side on PostgreSQL), without
    SQLAlchemy's row objects, which would cost three times the read: memory stays flat and no
    row passes through the CSV writer again.
    """
    yield HEADER_LINE
    stmt = select(RosteringJob.csv_line).where(RosteringJob.tenant_id == int(tenant_id))
    if narrow is not None:
        stmt = narrow(stmt)
    stmt = stmt.order_by(*newest_first())
    sql = str(stmt.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True}))
    dbapi = db.session.connection().connection.dbapi_connection
    postgres = db.engine.dialect.name == "postgresql"
    # A connection in use has its driver connection (typed Optional for a closed one).
    cursor = dbapi.cursor(name="rostering_csv") if postgres else dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(CSV_BATCH):
            yield "".join([row[0] for row in rows])
    finally:
        cursor.close()
