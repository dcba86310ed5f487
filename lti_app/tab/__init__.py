"""The Rostering tab, composed: the job store's schedule, health and jobs list, with the rooms
that stand beside it (the Canvas connection, the alerts and the change guard's held syncs),
and the actions of its Alerts section (``alerts.py``). It lives above them all, so none of
them needs to know of another."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, g, render_template, request
from sqlalchemy import bindparam, select

from ..alerts import guard, recipients, stuck
from ..alerts.models import AlertSettings
from ..api import tokens as agent_tokens
from ..canvas import actions
from ..canvas.connections import TabStatus, normalise_base_url
from ..canvas.models import CanvasApiKey, CanvasConnection
from ..extensions import db, reads_only
from ..lti.models import Tenant
from ..lti.permissions import Need, may
from ..lti.tokens import require_launch
from ..rostering import approvals, blackouts, reading, retention, sync
from ..rostering.models import HistoryPolicy
from ..rostering.schedule import describe_interval
from ..rostering.templating import duration
from ..timeutil import utcnow

# The SIS Integration page's blueprint: every /rostering/ route is here, in the module named for
# what it acts on.
bp = Blueprint("rostering", __name__, url_prefix="/rostering")

from .jobs import health_section, int_arg, job_filter  # noqa: E402  (its routes too)

# The institution's own settings of every room in one round trip, built once (the page pays for
# it on every load): its Canvas connection and whether an API key lets its admins connect, its
# change guard, and how long its history is kept.
_SETTINGS = (
    select(
        CanvasConnection,
        select(CanvasApiKey.id).where(CanvasApiKey.base_url == bindparam("base_url")).exists(),
        AlertSettings,
        HistoryPolicy,
    )
    .select_from(Tenant)
    .outerjoin(CanvasConnection, CanvasConnection.tenant_id == Tenant.id)
    .outerjoin(AlertSettings, AlertSettings.tenant_id == Tenant.id)
    .outerjoin(HistoryPolicy, HistoryPolicy.tenant_id == Tenant.id)
    .where(Tenant.id == bindparam("tenant_id"))
)


def render_tab(status: int = 200, **extra: Any) -> tuple[str, int]:
    """The tab for ``g.launch``, with ``extra`` for its Alerts section (a problem with what
    the admin sent, a webhook's secret shown once)."""
    tenant_id = g.launch.tenant_id
    seek = reading.Seek(
        after=reading.decode_key(request.args.get("after")),
        before=reading.decode_key(request.args.get("before")),
        skip_pages=min(max(int_arg("skip", 0), 0), 10),
    )
    jobs_filter = job_filter()
    narrowed = jobs_filter.active
    jobs = reading.list_jobs(
        tenant_id,
        int_arg("page", 1),
        int_arg("per_page", reading.DEFAULT_PER_PAGE),
        seek,
        narrow=jobs_filter.where if narrowed else None,
        total=jobs_filter.count(tenant_id) if narrowed else None,
        params=jobs_filter.params(),
    )
    overview = sync.overview(tenant_id)
    schedule = overview.schedule
    now = utcnow()
    tenant = g.launch.tenant
    connection, can_connect, guard_row, policy = db.session.execute(
        _SETTINGS,
        {"tenant_id": tenant_id, "base_url": normalise_base_url(tenant.canvas_api_base_url)},
    ).one()
    stuck_minutes = stuck.minutes_of(guard_row)
    page = render_template(
        "rostering/index.html",
        jobs=jobs,
        job_filter=jobs_filter,
        health_html=health_section(overview.newest),
        schedule=schedule,
        interval=describe_interval(schedule) if schedule else "",
        next_run=blackouts.next_run_outside(schedule, now) if schedule else None,
        blackout_list=blackouts.upcoming(tenant_id, now),
        in_blackout=blackouts.current(tenant_id, now),
        # The guard as the agent reads it: the allowance, additions only.
        guard_now=guard.document(guard_row, now),
        running=overview.running,
        pending_request=overview.pending_request,
        canvas=TabStatus(connection, bool(can_connect) and bool(tenant.canvas_api_base_url)),
        holds=approvals.pending(tenant_id),
        alert_recipients=recipients.for_tenant(tenant_id),
        email_configured=recipients.email_configured(),
        guard=guard.Thresholds.of(guard_row),
        history=retention.keeping_of(policy),
        history_choices=retention.CHOICES,
        # Undo and stop (tab/imports.py): what each row offers, what is under way, who may.
        undo_since=now - timedelta(days=actions.UNDO_DAYS),
        underway=actions.underway(tenant_id, [job.id for job in jobs.jobs]),
        queued_imports=actions.queued_imports(tenant_id) if connection else 0,
        may_act=may(g.launch, Need.ACT),
        may_manage=may(g.launch, Need.MANAGE),
        needs=Need,
        stuck_before=now - timedelta(minutes=stuck_minutes),
        stuck_for=duration(stuck_minutes),
        agent_tokens=agent_tokens.list_tokens(tenant),
        notice=request.args.get("notice", ""),
        **extra,
    )
    return page, status


@bp.route("/")
@reads_only
@require_launch
def index() -> tuple[str, int]:
    """The Rostering tab: Schedule, held syncs, Canvas, Alerts, sync health and the list."""
    return render_tab()


from . import (  # noqa: E402,F401  (their routes register on import)
    activity,
    alerts,
    details,
    history,
    imports,
    safeguards,
    syncs,
    tokens,
)
