"""The SIS Integration page, composed: the Rostering tab (the job store's schedule, health and
jobs list, with held syncs and live status) and the Settings tab (the Canvas connection,
blackouts, Alerts, the change guard, agent tokens, History), with the Activity tab beside them
(``activity.py``). It lives above every room it shows, so none of them needs to know of
another; each action is in the module named for what it acts on."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, Response, g, redirect, render_template, request
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
from ..lti.tokens import require_launch, tool_url
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


def _shared(tenant: Tenant, now: datetime) -> tuple[dict[str, Any], Any, Any]:
    """What both pages show of the institution's settings (from one round trip), who may act
    and the notice a redirect brought; with the guard's row and the history policy."""
    connection, can_connect, guard_row, policy = db.session.execute(
        _SETTINGS,
        {"tenant_id": tenant.id, "base_url": normalise_base_url(tenant.canvas_api_base_url)},
    ).one()
    shown = dict(
        canvas=TabStatus(connection, bool(can_connect) and bool(tenant.canvas_api_base_url)),
        guard=guard.Thresholds.of(guard_row),
        email_configured=recipients.email_configured(),
        in_blackout=blackouts.current(tenant.id, now),
        may_act=may(g.launch, Need.ACT),
        may_manage=may(g.launch, Need.MANAGE),
        needs=Need,
        notice=request.args.get("notice", ""),
    )
    return shown, guard_row, policy


def render_tab(status: int = 200, **extra: Any) -> tuple[str, int]:
    """The Rostering tab for ``g.launch``: Schedule, held syncs, the problems an admin must
    fix in Settings, sync health and the Rostering Jobs list; ``extra`` for what a refused
    action says (a sync asked for in a blackout, a hold decided already)."""
    tenant = g.launch.tenant
    seek = reading.Seek(
        after=reading.decode_key(request.args.get("after")),
        before=reading.decode_key(request.args.get("before")),
        skip_pages=min(max(int_arg("skip", 0), 0), 10),
    )
    jobs_filter = job_filter()
    narrowed = jobs_filter.active
    jobs = reading.list_jobs(
        tenant.id,
        int_arg("page", 1),
        int_arg("per_page", reading.DEFAULT_PER_PAGE),
        seek,
        narrow=jobs_filter.where if narrowed else None,
        total=jobs_filter.count(tenant.id) if narrowed else None,
        params=jobs_filter.params(),
    )
    overview = sync.overview(tenant.id)
    schedule = overview.schedule
    now = utcnow()
    shared, guard_row, _ = _shared(tenant, now)
    stuck_minutes = stuck.minutes_of(guard_row)
    page = render_template(
        "rostering/index.html",
        jobs=jobs,
        job_filter=jobs_filter,
        health_html=health_section(overview.newest),
        schedule=schedule,
        interval=describe_interval(schedule) if schedule else "",
        next_run=blackouts.next_run_outside(schedule, now) if schedule else None,
        running=overview.running,
        pending_request=overview.pending_request,
        holds=approvals.pending(tenant.id),
        # Undo and stop (tab/imports.py): what each row offers and what is under way.
        undo_since=now - timedelta(days=actions.UNDO_DAYS),
        underway=actions.underway(tenant.id, [job.id for job in jobs.jobs]),
        queued_imports=actions.queued_imports(tenant.id) if shared["canvas"].connection else 0,
        stuck_before=now - timedelta(minutes=stuck_minutes),
        stuck_for=duration(stuck_minutes),
        # Recipients who expect email from a server with none: read only when that can be.
        email_unsent=not shared["email_configured"]
        and any(r.is_email for r in recipients.for_tenant(tenant.id)),
        **shared,
        **extra,
    )
    return page, status


def render_settings(status: int = 200, **extra: Any) -> tuple[str, int]:
    """The Settings tab for ``g.launch``: the Canvas connection, blackouts, Alerts with the
    change guard and term rollover, the agent's tokens and History; ``extra`` for what the
    admin sent that was refused, or a secret shown once."""
    tenant = g.launch.tenant
    now = utcnow()
    shared, guard_row, policy = _shared(tenant, now)
    page = render_template(
        "rostering/settings.html",
        blackout_list=blackouts.upcoming(tenant.id, now),
        # The guard as the agent reads it: the allowance, additions only.
        guard_now=guard.document(guard_row, now),
        history=retention.keeping_of(policy),
        history_choices=retention.CHOICES,
        agent_tokens=agent_tokens.list_tokens(tenant),
        alert_recipients=recipients.for_tenant(tenant.id),
        **shared,
        **extra,
    )
    return page, status


@bp.route("/")
@reads_only
@require_launch
def index() -> tuple[str, int]:
    """The Rostering tab: Schedule, held syncs, sync health and the Rostering Jobs list."""
    return render_tab()


@bp.route("/settings")
@reads_only
@require_launch
def settings_page() -> tuple[str, int]:
    """The Settings tab: what an admin sets for the institution, each change recorded."""
    return render_settings()


def back_to(page: str, notice: str | None = None, anchor: str | None = None) -> Response:
    """Show ``page`` (``"index"`` or ``"settings_page"``) again after an action, saying what
    was done (303: a reload is a GET)."""
    return redirect(tool_url(f"rostering.{page}", notice=notice, _anchor=anchor), code=303)


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
