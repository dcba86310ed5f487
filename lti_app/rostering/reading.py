"""Reading the job store: the Rostering Jobs list a page at a time (seeking by position, never
by offset, from the nearer end), the tab's overview flags, the live check, one job."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Exists, Select, String, bindparam, literal_column, select, tuple_
from sqlalchemy.orm import selectinload

from ..extensions import Records, db
from ..i18n import N_
from ..lti.models import Tenant
from .models import (
    JobStatus,
    RosteringJob,
    SyncRequest,
    SyncRequestStatus,
)

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100


Key = tuple[datetime, int]  # a job's place in the list: (updated_at, id)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_LAST_MICROS = (datetime.max.replace(tzinfo=UTC) - timedelta(days=1) - _EPOCH) // _MICROSECOND


def encode_key(job: RosteringJob) -> str:
    """A job's place in the list as URL-safe text: "<microseconds since 1970>.<id>"."""
    return f"{(job.updated_at - _EPOCH) // _MICROSECOND}.{job.id}"


def decode_key(text: str | None) -> Key | None:
    """The place a link names, or None when it names none (or was tampered into nonsense)."""
    try:
        micros, job_id = (int(part) for part in (text or "").split("."))
    except ValueError:
        return None
    if micros < 0 or job_id < 0:
        return None
    # A position past every possible row is the end of the list: clamped to the calendar and
    # to 64-bit ids, the types every database compares alike.
    return _EPOCH + min(micros, _LAST_MICROS) * _MICROSECOND, min(job_id, 2**63 - 1)


@dataclass(frozen=True)
class Seek:
    """How a link reaches a page without counting rows from the top: from the row just
    before it (``after``, going to older jobs) or just after it (``before``), skipping whole
    pages. Without either, a page is counted from the nearer end of the list."""

    after: Key | None = None
    before: Key | None = None
    skip_pages: int = 0


@dataclass(frozen=True)
class JobPage:
    """One page of a tenant's Rostering Jobs list."""

    jobs: list[RosteringJob]
    page: int
    per_page: int
    total: int
    params: dict[str, Any] = field(default_factory=dict)  # a filter, kept in every link

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    def numbered(self, around: int = 2) -> list[int]:
        """The page numbers to offer: a window around the current page."""
        first = max(1, self.page - around)
        last = min(self.pages, self.page + around)
        return list(range(first, last + 1))

    def pager(self) -> list[tuple[str, str, dict[str, Any] | None, bool]]:
        """The page navigation: (text, accessible label, link parameters or None when there is
        nowhere to go, whether it is the current page), first / previous / numbers / next /
        last. Texts are English catalog ids; numbers are the page's own."""
        first, last = self.page > 1, self.page < self.pages
        items = [
            (N_("« First"), N_("First page"), self.edge_link(1) if first else None, False),
            (
                N_("‹ Previous"),
                N_("Previous page"),
                self.link(self.page - 1) if first else None,
                False,
            ),
        ]
        items += [(str(n), str(n), self.link(n), n == self.page) for n in self.numbered()]
        items += [
            (N_("Next ›"), N_("Next page"), self.link(self.page + 1) if last else None, False),
            (N_("Last »"), N_("Last page"), self.edge_link(self.pages) if last else None, False),
        ]
        return items

    def edge_link(self, number: int) -> dict[str, Any]:
        """URL parameters for a page by its number alone (the first, the last, a refresh)."""
        return {**self.params, "page": number, "per_page": self.per_page}

    def link(self, number: int) -> dict[str, Any]:
        """URL parameters for a page near this one: it is reached from this page's rows, so
        rows neither repeat nor vanish when syncs add jobs meanwhile, and no request counts
        its way through the history."""
        params = self.edge_link(number)
        if self.jobs and number != self.page:
            if number > self.page:
                params["after"] = encode_key(self.jobs[-1])
                params["skip"] = number - self.page - 1
            else:
                params["before"] = encode_key(self.jobs[0])
                params["skip"] = self.page - number - 1
        return params


# Built once: a page's statement is rebuilt per request, and building these clauses and
# options costs more than running it (SQLAlchemy's statements and options are immutable).
_NEWEST_FIRST = (RosteringJob.updated_at.desc(), RosteringJob.id.desc())
_OLDEST_FIRST = (RosteringJob.updated_at.asc(), RosteringJob.id.asc())
# The list's jobs are records (read without the ORM, which costs more than the statement for
# 25 rows), with none of the JSON columns nor the CSV line: not read, not decoded.
_LISTED = Records(RosteringJob, without=("change_counts", "stage_history", "csv_line"))


# The first page of a whole history (page 1 and its Refresh, what nearly every view shows):
# the statement itself built once, so a request neither builds it nor works out its cache key.
_FIRST_PAGE = (
    select(*_LISTED.columns)
    .where(RosteringJob.tenant_id == bindparam("tenant_id"))
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit"))
)


def newest_first() -> tuple[Any, Any]:
    """The list's order: most recently updated first, the id breaking ties, so rows never
    repeat or vanish between pages."""
    return _NEWEST_FIRST


def _position() -> Any:
    return tuple_(RosteringJob.updated_at, RosteringJob.id)


def _tenant_jobs(tenant_id: int) -> Any:
    return select(RosteringJob).where(RosteringJob.tenant_id == tenant_id)


def job_count(tenant_id: int) -> int:
    """How many jobs the tenant has, kept on the tenant row instead of counted per request."""
    tenant = db.session.get(Tenant, tenant_id)
    return tenant.job_count if tenant is not None else 0


Narrow = Callable[[Any], Any]  # narrows a select of rostering_job (a filter)


def list_jobs(
    tenant_id: int,
    page: int = 1,
    per_page: int = DEFAULT_PER_PAGE,
    seek: Seek | None = None,
    *,
    narrow: Narrow | None = None,
    total: int | None = None,
    params: dict[str, Any] | None = None,
) -> JobPage:
    """A page of the tenant's jobs, newest first; out-of-range pages clamp to the last.
    ``narrow`` filters the list, ``total`` is how many jobs it selects (else all of them),
    ``params`` the filter as URL parameters, for the page's links.

    Every query walks an index from a known row or from the nearer end, so the last page costs
    what the first does however long the history is.
    """
    per_page = min(max(per_page, 1), MAX_PER_PAGE)
    total = job_count(tenant_id) if total is None else total
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 1), pages)
    seek = seek or Seek()
    above = (page - 1) * per_page
    if above == 0 and narrow is None and seek.after is None and seek.before is None:
        jobs = _listed(_FIRST_PAGE, {"tenant_id": tenant_id, "limit": per_page})
        return JobPage(jobs, page, per_page, total, params or {})
    stmt = _tenant_jobs(tenant_id)
    if narrow is not None:
        stmt = narrow(stmt)
    jobs = []
    if seek.after is not None:
        jobs = _rows(
            stmt.where(_position() < tuple_(*seek.after)),
            True,
            seek.skip_pages * per_page,
            per_page,
        )
    elif seek.before is not None:
        jobs = _rows(
            stmt.where(_position() > tuple_(*seek.before)),
            False,
            seek.skip_pages * per_page,
            per_page,
        )
    if not jobs:
        below = max(0, total - page * per_page)
        if above <= below:
            jobs = _rows(stmt, True, above, per_page)
        else:
            jobs = _rows(stmt, False, below, min(per_page, total - above))
    return JobPage(jobs, page, per_page, total, params or {})


def _rows(stmt: Any, newest: bool, offset: int, limit: int) -> list[RosteringJob]:
    """Rows in list order, read from the newest end or (then reversed) from the oldest.

    Rows skipped by an offset are passed over in the index alone: the page's ids are found
    first (the index holds them), then only those rows are read.
    """
    order = _NEWEST_FIRST if newest else _OLDEST_FIRST
    if offset:
        ids = stmt.with_only_columns(RosteringJob.id).order_by(*order).offset(offset).limit(limit)
        stmt = select(RosteringJob).where(RosteringJob.id.in_(ids.scalar_subquery()))
    rows = _listed(stmt.with_only_columns(*_LISTED.columns).order_by(*order).limit(limit))
    return rows if newest else rows[::-1]


def _listed(stmt: Any, params: dict[str, Any] | None = None) -> list[RosteringJob]:
    """The list's jobs a statement of ``_LISTED``'s columns selects, as records."""
    rows = db.session.connection().execute(stmt, params).all()
    return [cast(RosteringJob, _LISTED.of(row)) for row in rows]


def newest(tenant: Any) -> Select[datetime, int]:
    """The place of the tenant's most recently updated job, ``(updated_at, id)``: it moves
    whenever a job is added or changes (the health section's cache key). ``tenant`` is an id
    or a column (a correlated subquery).

    Its LIMIT is written into the SQL, not sent: a statement PostgreSQL has prepared gets a
    generic plan only if that costs no more than planning it each time, and a generic plan
    with LIMIT $n prices the subquery as reading a tenth of the history. The tab's state
    statement, which holds it, was planned afresh on every view (2 of its 2.8 ms)."""
    return (
        select(RosteringJob.updated_at, RosteringJob.id)
        .where(RosteringJob.tenant_id == tenant)
        .order_by(*newest_first())
        .limit(literal_column("1"))
    )


def newest_key(tenant_id: int) -> Key | None:
    """The tenant's newest job's place, or None when it has none."""
    row = db.session.execute(newest(tenant_id)).first()
    return (row[0], row[1]) if row else None


_CONSTANT = re.compile(r"[a-z_]+")


def in_sql(value: str) -> Any:
    """A constant written into the SQL rather than sent as a parameter. PostgreSQL plans a
    prepared statement (psycopg prepares one after five runs) without its parameters' values;
    for "any job In Progress?" it then guesses a third of the history matches and reads the
    table from the start: 160 ms at a million finished jobs. With the status in the SQL it
    knows from the statistics that almost none do and asks the index.

    Written in when the statement is compiled, once, rather than on every run (a
    ``literal_execute`` parameter is rendered into the cached SQL per execution): ``value`` is
    one of the code's own constants, a word of lowercase letters and underscores."""
    if not _CONSTANT.fullmatch(value):
        raise ValueError(f"not a constant of the code: {value!r}")
    return literal_column(f"'{value}'", String)


def any_running(tenant: Any) -> Exists:
    """Whether one of the tenant's syncs is In Progress (``tenant``: an id, a parameter or a
    column)."""
    return (
        select(RosteringJob.id)
        .where(
            RosteringJob.tenant_id == tenant,
            RosteringJob.status == in_sql(JobStatus.IN_PROGRESS.value),
        )
        .exists()
    )


def any_pending(tenant: Any) -> Exists:
    """Whether the tenant's admins have a Sync now request waiting for an agent."""
    return (
        select(SyncRequest.id)
        .where(
            SyncRequest.tenant_id == tenant,
            SyncRequest.status == in_sql(SyncRequestStatus.PENDING.value),
        )
        .exists()
    )


# The live check's two flags, and the same with the rows it names: each one statement, built
# once (the page's tab polls this every few seconds while a sync runs).
_RUNNING = any_running(bindparam("tenant_id"))
_PENDING = any_pending(bindparam("tenant_id"))
LIVE_FLAGS = select(_RUNNING, _PENDING)
# Jobs are found by their unique public id alone, another tenant's dropped after: with the
# tenant in the WHERE clause SQLite may walk all the tenant's rows by its index instead.
_NAMED = RosteringJob.public_id.in_(bindparam("public_ids", expanding=True))
# A check reads the statuses of the rows the page shows, the flags riding along (evaluated
# once: they do not depend on the row); only rows whose status moved are read whole.
LIVE_STATUSES = select(
    RosteringJob.tenant_id,
    RosteringJob.public_id,
    RosteringJob.status,
    _RUNNING.label("running"),
    _PENDING.label("pending"),
).where(_NAMED)
_LIVE_DETAILS = select(
    RosteringJob.tenant_id,
    RosteringJob.public_id,
    RosteringJob.type,
    RosteringJob.status,
    RosteringJob.stage,
    RosteringJob.updated_at,
).where(_NAMED)


@dataclass(frozen=True)
class LiveCheck:
    """What the live check learns in one query."""

    statuses: dict[str, str]  # public id → status, for those of the ids that are the tenant's
    running: bool  # one of the tenant's syncs is In Progress
    pending: bool  # a Sync now request waits for an agent


def live_check(tenant_id: int, public_ids: list[str]) -> LiveCheck:
    """The statuses of some of the tenant's jobs by public id, whether one of its syncs runs
    and whether a Sync now waits: one query."""
    if not public_ids:
        flags = db.session.execute(LIVE_FLAGS, {"tenant_id": tenant_id}).one()
        return LiveCheck({}, bool(flags[0]), bool(flags[1]))
    rows = db.session.execute(LIVE_STATUSES, {"tenant_id": tenant_id, "public_ids": public_ids})
    mine = [row for row in rows if row.tenant_id == tenant_id]
    if not mine:
        return LiveCheck({}, False, False)  # none of them the tenant's
    return LiveCheck(
        {row.public_id: row.status for row in mine}, bool(mine[0].running), bool(mine[0].pending)
    )


def live_details(tenant_id: int, public_ids: list[str]) -> list[Any]:
    """Type, status, stage and time of some of the tenant's jobs (those a check found moved)."""
    rows = db.session.execute(_LIVE_DETAILS, {"public_ids": public_ids})
    return [row for row in rows if row.tenant_id == tenant_id]


def get_job(tenant_id: int, public_id: str, *, with_details: bool = False) -> RosteringJob | None:
    """One of the tenant's jobs by its public id, or None (also for other tenants' jobs)."""
    stmt = select(RosteringJob).where(
        RosteringJob.tenant_id == tenant_id, RosteringJob.public_id == public_id
    )
    if with_details:  # its messages are read a page at a time (messages.py)
        stmt = stmt.options(selectinload(RosteringJob.files))
    return db.session.scalars(stmt).first()


def get_job_by_external_id(tenant_id: int, external_id: str) -> RosteringJob | None:
    """One of the tenant's jobs by the SIS agent's own id."""
    stmt = select(RosteringJob).where(
        RosteringJob.tenant_id == tenant_id, RosteringJob.external_id == external_id
    )
    return db.session.scalars(stmt).first()


def list_jobs_after(
    tenant_id: int,
    *,
    limit: int,
    after: Key | None = None,
    status: JobStatus | None = None,
    updated_since: datetime | None = None,
) -> list[RosteringJob]:
    """Up to ``limit`` of the tenant's jobs, newest first, after a (updated_at, id) position."""
    stmt = _tenant_jobs(tenant_id)
    if status is not None:
        stmt = stmt.where(RosteringJob.status == status.value)
    if updated_since is not None:
        stmt = stmt.where(RosteringJob.updated_at >= updated_since)
    if after is not None:
        stmt = stmt.where(_position() < tuple_(*after))
    return list(db.session.scalars(stmt.order_by(*newest_first()).limit(limit)))
