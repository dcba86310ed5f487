"""The tab's read model: what each page of the SIS Integration page shows, read across the
rooms in as few round trips as they allow and handed to its template as one object.

The institution's state is one statement (``_STATE``): its schedule, a pending Sync now, whether
a sync runs, where its newest job is, its Canvas connection and whether an API key lets its
admins connect, its change guard, its history policy, whether a Canvas import of its is under
way, and its held syncs and blackouts not over. So every page of the Rostering tab is three
statements (the launch, the state, the jobs), and one more only while Canvas imports run (the
queue the tab can stop).

The Rostering tab's parts that are kept once rendered (``tab/fragments.py``) get their values
here as frozen dataclasses (``JobRow`` and the ``*Part`` classes): each holds everything its
template shows, so it is the key the HTML is kept under."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import joinedload

from ..alerts import guard, recipients, stuck
from ..alerts.models import AlertSettings
from ..api import tokens as agent_tokens
from ..canvas import actions, connections, error_rows
from ..canvas.connections import TabStatus, normalise_base_url
from ..canvas.models import CanvasAction, CanvasApiKey, CanvasConnection, ErrorRead
from ..extensions import Records, db
from ..lti.models import Launch, Tenant
from ..rostering import (
    blackouts,
    canvas_imports,
    filters,
    messages,
    reading,
    retention,
)
from ..rostering.models import (
    ApprovalState,
    HistoryPolicy,
    JobApproval,
    JobStatus,
    RosteringJob,
    SyncBlackout,
    SyncRequest,
    SyncRequestStatus,
    SyncSchedule,
)
from ..rostering.schedule import describe_interval

_IN_PROGRESS = reading.in_sql(JobStatus.IN_PROGRESS.value)
_NEWEST = reading.newest(Tenant.id)

# The rows the state reads, as records (read without the ORM: the statement is read on every
# view, and loading its eight entities cost the ORM twice what running it does).
_SCHEDULE = Records(SyncSchedule)
_REQUEST = Records(SyncRequest)
_CONNECTION = Records(CanvasConnection)
_GUARD = Records(AlertSettings)
_POLICY = Records(HistoryPolicy)
_HOLD = Records(JobApproval)
_BLACKOUT = Records(SyncBlackout)
# The jobs of held syncs, each read for only what a hold shows (its id, type and start).
_HELD_JOB = RosteringJob.__table__.alias("held_job")


class Hold(NamedTuple):
    """A held sync: its approval and what its section shows of its job."""

    approval: JobApproval
    public_id: str
    type: str
    created_at: datetime


def _laid_out(
    *parts: tuple[str, Records[Any] | list[Any]],
) -> tuple[list[Any], dict[str, slice]]:
    """A statement's columns from named parts (records or columns) and each part's slice of
    its rows."""
    columns: list[Any] = []
    at = {}
    for name, part in parts:
        more = part.columns if isinstance(part, Records) else part
        at[name] = slice(len(columns), len(columns) + len(more))
        columns += more
    return columns, at


_STATE_COLUMNS, _AT = _laid_out(
    ("schedule", _SCHEDULE),
    ("request", _REQUEST),
    ("connection", _CONNECTION),
    ("guard", _GUARD),
    ("policy", _POLICY),
    (
        "facts",
        [
            reading.any_running(Tenant.id),
            _NEWEST.with_only_columns(RosteringJob.updated_at).scalar_subquery(),
            _NEWEST.with_only_columns(RosteringJob.id).scalar_subquery(),
            select(CanvasApiKey.id).where(CanvasApiKey.base_url == bindparam("base_url")).exists(),
            select(RosteringJob.id)
            .where(
                RosteringJob.tenant_id == Tenant.id,
                RosteringJob.status == _IN_PROGRESS,
                RosteringJob.canvas_sis_import_id.is_not(None),
            )
            .exists(),
        ],
    ),
    ("hold", _HOLD),
    ("held_job", [_HELD_JOB.c.public_id, _HELD_JOB.c.type, _HELD_JOB.c.created_at]),
    ("blackout", _BLACKOUT),
)


def _of_tenant(model: Any, *more: Any) -> Any:
    """The join condition of a model's rows of the institution (and ``more``)."""
    return and_(model.__table__.c.tenant_id == Tenant.id, *more)


# Built once (building it costs about what running it does). At most one row of each of the
# first joined tables belongs to an institution; its held syncs and its blackouts not over are
# joined too, so the statement answers a row for each pair of them (one row when it has none;
# a blackout list is at most blackouts.MAX_PER_INSTITUTION long), and the page reads them all
# in this one round trip.
_STATE = (
    select(*_STATE_COLUMNS)
    .select_from(Tenant)
    .outerjoin(SyncSchedule.__table__, _of_tenant(SyncSchedule))
    .outerjoin(
        SyncRequest.__table__,
        _of_tenant(
            SyncRequest,
            SyncRequest.__table__.c.status == reading.in_sql(SyncRequestStatus.PENDING.value),
        ),
    )
    .outerjoin(CanvasConnection.__table__, _of_tenant(CanvasConnection))
    .outerjoin(AlertSettings.__table__, _of_tenant(AlertSettings))
    .outerjoin(HistoryPolicy.__table__, _of_tenant(HistoryPolicy))
    .outerjoin(
        JobApproval.__table__,
        _of_tenant(
            JobApproval,
            JobApproval.__table__.c.state == reading.in_sql(ApprovalState.PENDING.value),
        ),
    )
    .outerjoin(_HELD_JOB, _HELD_JOB.c.id == JobApproval.__table__.c.job_id)
    .outerjoin(
        SyncBlackout.__table__,
        _of_tenant(SyncBlackout, SyncBlackout.__table__.c.ends_at > bindparam("now")),
    )
    .where(Tenant.id == bindparam("tenant_id"))
    .order_by(JobApproval.__table__.c.requested_at, SyncBlackout.__table__.c.starts_at)
)


@dataclass(frozen=True)
class State:
    """The institution's state as ``_STATE`` reads it, with the lists it needs. Its rows are
    records (``extensions.Records``): they read as their models do, and change nothing."""

    schedule: SyncSchedule | None
    pending_request: SyncRequest | None
    running: bool
    newest: reading.Key | None  # the newest job's place (the health section's cache key)
    canvas: TabStatus
    guard_row: AlertSettings | None
    policy: HistoryPolicy | None
    holds: list[Hold]  # oldest first
    blackouts: list[SyncBlackout]  # not over yet, soonest first
    canvas_importing: bool  # a Canvas import of the institution is under way

    @property
    def guard(self) -> guard.Thresholds:
        return guard.Thresholds.of(self.guard_row)

    def in_blackout(self, now: datetime) -> SyncBlackout | None:
        return blackouts.current_among(self.blackouts, now)


def state(tenant: Tenant, now: datetime) -> State:
    """The institution's state, its held syncs and its blackouts not over: one round trip."""
    rows = (
        db.session.connection()
        .execute(
            _STATE,
            {
                "tenant_id": tenant.id,
                "base_url": normalise_base_url(tenant.canvas_api_base_url),
                "now": now,
            },
        )
        .all()
    )
    first = rows[0]
    running, newest_at, newest_id, can_connect, importing = first[_AT["facts"]]
    holds: dict[int, Hold] = {}
    shown: dict[int, SyncBlackout] = {}
    # In the statement's order (oldest hold, soonest blackout first), each once.
    for row in rows:
        hold, blackout = _HOLD.of(row[_AT["hold"]]), _BLACKOUT.of(row[_AT["blackout"]])
        if hold is not None and hold.job_id not in holds:
            holds[hold.job_id] = Hold(hold, *row[_AT["held_job"]])
        if blackout is not None:
            shown.setdefault(blackout.id, blackout)
    connection = _CONNECTION.of(first[_AT["connection"]])
    return State(
        schedule=_SCHEDULE.of(first[_AT["schedule"]]),
        pending_request=_REQUEST.of(first[_AT["request"]]),
        running=bool(running),
        newest=(newest_at, newest_id) if newest_id else None,
        canvas=TabStatus(connection, bool(can_connect) and bool(tenant.canvas_api_base_url)),
        guard_row=_GUARD.of(first[_AT["guard"]]),
        policy=_POLICY.of(first[_AT["policy"]]),
        holds=list(holds.values()),
        blackouts=list(shown.values()),
        canvas_importing=bool(importing),
    )


@dataclass(frozen=True)
class JobRow:
    """One row of the Rostering Jobs list, as shown: everything its HTML depends on (it is
    the key its rendered row is kept under, so nothing else may change the row)."""

    public_id: str
    type: str
    posted_by: str
    sis_type: str
    updated_at: datetime
    stage: str
    status: str
    large_deletion: bool
    deleted_in_additions_only: bool
    stuck: bool  # In Progress with no progress for longer than the institution allows
    action: tuple[str, str] | None  # an undo or stop under way: (kind, requested by)
    offer: str | None  # "stop" or "undo": what the row offers, if anything


def job_rows(
    jobs: list[RosteringJob], current: State, tenant_id: int, now: datetime
) -> tuple[JobRow, ...]:
    """The page's rows as shown, with the undo or stop each offers or has under way."""
    stuck_before = now - timedelta(minutes=stuck.minutes_of(current.guard_row))
    undo_since = now - timedelta(days=actions.UNDO_DAYS)
    from_canvas = [job.id for job in jobs if job.canvas_sis_import_id]
    underway = actions.underway(tenant_id, from_canvas) if from_canvas else {}
    rows = []
    for job in jobs:
        action, offer = underway.get(job.id), None
        in_progress = job.status == JobStatus.IN_PROGRESS
        if job.canvas_sis_import_id and action is None:
            if in_progress and job.stage.startswith("Canvas Import"):
                offer = "stop"
            elif not in_progress and job.created_at >= undo_since:
                offer = "undo"
        rows.append(
            JobRow(
                public_id=job.public_id,
                type=job.type,
                posted_by=job.posted_by,
                sis_type=job.sis_type,
                updated_at=job.updated_at,
                stage=job.stage,
                status=job.status,
                large_deletion=bool(job.large_deletion),
                deleted_in_additions_only=bool(job.deleted_in_additions_only),
                stuck=in_progress and job.updated_at < stuck_before,
                action=(action.kind, action.requested_by) if action else None,
                offer=offer,
            )
        )
    return tuple(rows)


# The parts of the Rostering tab kept once rendered (tab/fragments.py): each is a frozen value
# holding everything its template shows, so it is the key its HTML is kept under.


@dataclass(frozen=True)
class HeaderPart:
    """The page's header and tabs: where the admin is, who they are, and which tab is open."""

    context: str  # the account's name, with the institution's when Canvas names it otherwise
    user_name: str
    tab: str  # "rostering", "settings" or "activity"


def header_part(launch: Launch, endpoint: str | None) -> HeaderPart:
    """The header of ``launch``'s page at ``endpoint``: its tab is Settings' or Activity's,
    else Rostering's (a job's pages are the Rostering tab's)."""
    tenant = launch.tenant
    context = launch.account_name or tenant.display_name
    if launch.account_name and tenant.name and launch.account_name != tenant.name:
        context = f"{context} · {tenant.name}"
    tabs = {"rostering.settings_page": "settings", "rostering.activity_page": "activity"}
    return HeaderPart(context, launch.user_name, tabs.get(endpoint or "", "rostering"))


@dataclass(frozen=True)
class HoldShown:
    """A held sync as its section shows it."""

    public_id: str
    type: str
    created_at: datetime
    expires_at: datetime  # when it ends Failed if nobody decides
    reasons: tuple[str, ...]
    planned: tuple[tuple[str, int | None, int, int, int], ...]  # kind, existing, +, ~, -


@dataclass(frozen=True)
class HoldsPart:
    """The held syncs' section: each hold, the change guard's line and whether the admin may
    approve or reject."""

    holds: tuple[HoldShown, ...]
    guard_percent: int
    guard_count: int
    may_act: bool


@dataclass(frozen=True)
class SchedulePart:
    """The Schedule section of a configured schedule: the schedule, when it runs next and the
    blackout it waits out, Pause or Resume, and the blackout on now."""

    type: str
    interval: str
    first_run: datetime | None
    timezone: str
    posted_by: str
    enabled: bool
    paused_by: str | None
    paused_at: datetime | None
    next_at: datetime | None
    after_blackout: str | None  # None: not after one; else its reason ("" for none given)
    on_now: tuple[str, date, date] | None  # the blackout on now: reason, first and last day
    may_act: bool
    page: int  # the jobs page Pause comes back to


@dataclass(frozen=True)
class ActionsPart:
    """The Rostering Jobs list's buttons: stop Canvas's queued imports, Sync now (back to this
    page), Download (the filter's jobs) and Refresh (this page again)."""

    queued_imports: int  # Canvas's queued imports of the institution, which the tab can stop
    may_act: bool
    page: int
    download: tuple[tuple[str, Any], ...]  # URL parameters
    refresh: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class FilterPart:
    """The filter form of the Rostering Jobs list."""

    statuses: tuple[str, ...]
    start: date | None
    end: date | None
    trigger: str | None
    active: bool
    problems: tuple[str, ...]


@dataclass(frozen=True)
class HeadPart:
    """The list's caption and column heads: where the page is and how many jobs there are."""

    page: int
    pages: int
    total: int
    filtered: bool
    which: str  # the statuses filtered on, in words ("" for none)


@dataclass(frozen=True)
class PagerPart:
    """The list's pager: each item's text, label, URL parameters and whether it is this page."""

    items: tuple[tuple[str, str, tuple[tuple[str, Any], ...] | None, bool], ...]


def _frozen(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """URL parameters as a key can hold them (a list of values as a tuple, which url_for
    writes out the same way)."""
    return tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in params.items())


def _planned_row(kind: str, counts: dict[str, int]) -> tuple[str, int | None, int, int, int]:
    return (kind, counts.get("existing"), counts.get("created", 0), counts.get("updated", 0),
            counts.get("deleted", 0))  # fmt: skip


def holds_part(current: State, may_act: bool, expire_hours: int) -> HoldsPart | None:
    """The held syncs' section, if there are any."""
    if not current.holds:
        return None
    thresholds = current.guard
    return HoldsPart(
        holds=tuple(
            HoldShown(
                public_id=hold.public_id,
                type=hold.type,
                created_at=hold.created_at,
                expires_at=hold.approval.expires_at(expire_hours),
                reasons=tuple(hold.approval.reasons),
                planned=tuple(_planned_row(n, c) for n, c in sorted(hold.approval.planned.items())),
            )
            for hold in current.holds
        ),
        guard_percent=thresholds.percent,
        guard_count=thresholds.count,
        may_act=may_act,
    )


def schedule_part(
    current: State, next_run: blackouts.NextRun | None, on_now: SyncBlackout | None,
    may_act: bool, page: int,
) -> SchedulePart | None:  # fmt: skip
    """The Schedule section's values (None: no schedule is configured)."""
    schedule = current.schedule
    if schedule is None:
        return None
    after = next_run.after if next_run else None
    return SchedulePart(
        type=schedule.type,
        interval=describe_interval(schedule),
        first_run=schedule.first_run,
        timezone=schedule.timezone,
        posted_by=schedule.posted_by,
        enabled=schedule.enabled,
        paused_by=schedule.paused_by,
        paused_at=schedule.paused_at,
        next_at=next_run.at if next_run else None,
        after_blackout=(after.reason or "") if after else None,
        on_now=(on_now.reason, on_now.starts_on, on_now.ends_on) if on_now else None,
        may_act=may_act,
        page=page,
    )


@dataclass(frozen=True)
class RosteringView:
    """What the Rostering tab shows: the Schedule, held syncs, the problems an admin fixes in
    Settings, sync health and the Rostering Jobs list."""

    state: State
    jobs: reading.JobPage
    rows: tuple[JobRow, ...]
    job_filter: filters.JobFilter
    next_run: blackouts.NextRun | None
    stuck_for_minutes: int
    email_unsent: bool  # recipients expect email from a server that sends none
    # The parts kept once rendered.
    holds: HoldsPart | None
    schedule: SchedulePart | None
    actions: ActionsPart
    filters: FilterPart
    head: HeadPart
    pager: PagerPart


def rostering(
    tenant: Tenant, jobs_filter: filters.JobFilter, jobs: reading.JobPage, now: datetime,
    *, may_act: bool, expire_hours: int,
) -> RosteringView:  # fmt: skip
    """The Rostering tab's view of ``tenant`` with ``jobs`` (the page the URL names), for an
    admin who may act or not."""
    current = state(tenant, now)
    schedule = current.schedule
    email_configured = recipients.email_configured()
    next_run = blackouts.next_run_among(schedule, current.blackouts, now) if schedule else None
    queued = (
        actions.queued_imports(tenant.id)
        if current.canvas_importing and current.canvas.connection
        else 0
    )
    return RosteringView(
        state=current,
        jobs=jobs,
        rows=job_rows(jobs.jobs, current, tenant.id, now),
        job_filter=jobs_filter,
        next_run=next_run,
        stuck_for_minutes=stuck.minutes_of(current.guard_row),
        # Read only when it can be true: email is not set up here.
        email_unsent=not email_configured
        and any(r.is_email for r in recipients.for_tenant(tenant.id)),
        holds=holds_part(current, may_act, expire_hours),
        schedule=schedule_part(current, next_run, current.in_blackout(now), may_act, jobs.page),
        actions=ActionsPart(
            queued_imports=queued,
            may_act=may_act,
            page=jobs.page,
            download=_frozen(jobs_filter.params()),
            refresh=_frozen(jobs.edge_link(jobs.page)),
        ),
        filters=FilterPart(
            statuses=tuple(jobs_filter.statuses),
            start=jobs_filter.start,
            end=jobs_filter.end,
            trigger=jobs_filter.trigger,
            active=jobs_filter.active,
            problems=tuple(jobs_filter.problems),
        ),
        head=HeadPart(
            page=jobs.page,
            pages=jobs.pages,
            total=jobs.total,
            filtered=jobs_filter.active,
            which=jobs_filter.describe() if jobs_filter.statuses else "",
        ),
        pager=PagerPart(
            tuple(
                (text, label, None if params is None else _frozen(params), current_page)
                for text, label, params, current_page in jobs.pager()
            )
            if jobs.pages > 1
            else ()
        ),
    )


@dataclass(frozen=True)
class SettingsView:
    """What the Settings tab shows: the Canvas connection, blackouts, Alerts with the change
    guard and term rollover, the agent's tokens and History."""

    state: State
    in_blackout: SyncBlackout | None
    guard_now: dict[str, Any]  # the guard as the agent reads it: the allowance, additions only
    history: retention.Keeping
    history_choices: tuple[Any, ...]
    agent_tokens: list[Any]
    alert_recipients: list[Any]
    email_configured: bool


def settings(tenant: Tenant, now: datetime) -> SettingsView:
    """The Settings tab's view of ``tenant``."""
    current = state(tenant, now)
    return SettingsView(
        state=current,
        in_blackout=current.in_blackout(now),
        guard_now=guard.document(current.guard_row, now),
        history=retention.keeping_of(current.policy),
        history_choices=tuple(retention.CHOICES),
        agent_tokens=agent_tokens.list_tokens(tenant),
        alert_recipients=recipients.for_tenant(tenant.id),
        email_configured=recipients.email_configured(),
    )


@dataclass(frozen=True)
class DetailsView:
    """What a job's Details window shows: the job with its files, a page of its messages and
    their count by file, and for a Canvas import how the read of its error rows stands, the
    import as Canvas reported it and every undo and stop asked of it."""

    job: RosteringJob
    read: ErrorRead | None  # the read of Canvas's error rows, for a Canvas import
    shown: messages.Page
    by_file: list[messages.FileCount]
    scope_missing: bool  # the connection cannot read error rows: reconnecting would
    can_connect: bool  # an API key lets the institution's admins reconnect
    history: list[CanvasAction]
    canvas_import: dict[str, Any] | None
    kept_note: str = error_rows.KEPT_NOTE

    @property
    def errors(self) -> int:
        return sum(c.errors for c in self.by_file)

    @property
    def warnings(self) -> int:
        return sum(c.warnings for c in self.by_file)


def details(
    tenant_id: int, public_id: str, after: int | None, before: int | None
) -> DetailsView | None:
    """One of ``tenant_id``'s jobs as its Details window shows it (None: not one of its jobs):
    the job, its files and its read of Canvas's rows in one query, then a page of messages."""
    found = (
        db.session.execute(
            select(RosteringJob, ErrorRead)
            .outerjoin(ErrorRead, ErrorRead.job_id == RosteringJob.id)
            .where(RosteringJob.tenant_id == tenant_id, RosteringJob.public_id == public_id)
            .options(joinedload(RosteringJob.files))
        )
        .unique()
        .first()
    )
    if found is None:
        return None
    job, read = found
    connection = (
        connections.for_tenant(job.tenant_id) if read is not None and read.reading else None
    )
    return DetailsView(
        job=job,
        read=read,
        shown=messages.page(job.id, after=after, before=before),
        by_file=error_rows.counted(job.id, read),
        scope_missing=connection is not None and connection.errors_scope_missing,
        can_connect=connection is not None
        and connections.api_key_for(connection.base_url) is not None,
        history=actions.of_job(job.id),
        canvas_import=canvas_imports.stored_import(job) if job.canvas_sis_import_id else None,
    )
