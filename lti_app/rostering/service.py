"""Reading and writing rostering jobs. Views, the agent API and the demo loader go through
here, never SQL.

Every query takes the tenant: a job of another tenant is simply not found.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Exists, Select, bindparam, literal, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import defer, selectinload

from .. import metrics
from ..extensions import db
from ..i18n import N_
from ..lti.models import Tenant
from ..timeutil import utcnow
from . import tally
from .export import HEADER_LINE, csv_line
from .models import (
    AWAITING_APPROVAL,
    HELD,
    ApprovalState,
    JobEvent,
    JobFile,
    JobMessage,
    JobStatus,
    RosteringJob,
    SyncRequest,
    SyncRequestStatus,
    Trigger,
    new_public_id,
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


def newest_first() -> tuple[Any, Any]:
    """The list's order: most recently updated first, the id breaking ties, so rows never
    repeat or vanish between pages."""
    return (RosteringJob.updated_at.desc(), RosteringJob.id.desc())


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
    stmt = _tenant_jobs(tenant_id)
    if narrow is not None:
        stmt = narrow(stmt)
    jobs: list[RosteringJob] = []
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
        above = (page - 1) * per_page
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
    order = newest_first() if newest else (RosteringJob.updated_at.asc(), RosteringJob.id.asc())
    if offset:
        ids = stmt.with_only_columns(RosteringJob.id).order_by(*order).offset(offset).limit(limit)
        stmt = select(RosteringJob).where(RosteringJob.id.in_(ids.scalar_subquery()))
    # The list shows none of the JSON columns nor the CSV line: not read, not decoded.
    stmt = stmt.options(
        defer(RosteringJob.change_counts),
        defer(RosteringJob.stage_history),
        defer(RosteringJob.csv_line),
    )
    rows = list(db.session.scalars(stmt.order_by(*order).limit(limit)))
    return rows if newest else rows[::-1]


def newest(tenant: Any) -> Select[Any]:
    """The place of the tenant's most recently updated job, ``(updated_at, id)``: it moves
    whenever a job is added or changes (the health section's cache key). ``tenant`` is an id
    or a column (a correlated subquery)."""
    return (
        select(RosteringJob.updated_at, RosteringJob.id)
        .where(RosteringJob.tenant_id == tenant)
        .order_by(*newest_first())
        .limit(1)
    )


def newest_key(tenant_id: int) -> Key | None:
    """The tenant's newest job's place, or None when it has none."""
    row = db.session.execute(newest(tenant_id)).first()
    return (row[0], row[1]) if row else None


def in_sql(value: str) -> Any:
    """A constant written into the SQL rather than sent as a parameter. PostgreSQL plans a
    prepared statement (psycopg prepares one after five runs) without its parameters' values;
    for "any job In Progress?" it then guesses a third of the history matches and reads the
    table from the start: 160 ms at a million finished jobs. With the status in the SQL it
    knows from the statistics that almost none do and asks the index."""
    return literal(value, literal_execute=True)


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


def get_job_by_external_id(tenant_id: int, external_id: str) -> RosteringJob | None:
    """One of the tenant's jobs by the SIS agent's own id."""
    stmt = select(RosteringJob).where(
        RosteringJob.tenant_id == tenant_id, RosteringJob.external_id == external_id
    )
    return db.session.scalars(stmt).first()


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
    except (IntegrityError, db.engine.dialect.dbapi.IntegrityError) as exc:  # type: ignore[union-attr]
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


def record_event(job: RosteringJob, kind: str) -> None:
    """Note, in the transaction of the change, that the job reached a final status or was
    held (a ``JobEvent``: the alerts worker tells whoever asked to hear of it)."""
    db.session.add(JobEvent(tenant_id=job.tenant_id, job=job, kind=kind))
    if kind != HELD:
        metrics.JOBS_FINISHED.labels(kind, job.trigger).inc()


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
    cursor = dbapi.cursor(name="rostering_csv") if postgres else dbapi.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql)
        while rows := cursor.fetchmany(CSV_BATCH):
            yield "".join([row[0] for row in rows])
    finally:
        cursor.close()
