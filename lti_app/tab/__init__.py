"""The Rostering tab, composed: the job store's schedule, health and jobs list, with the rooms
that stand beside it (the Canvas connection, the alerts and the change guard's held syncs),
and the actions of its Alerts section (``alerts.py``). It lives above them all, so none of
them needs to know of another."""

from __future__ import annotations

from typing import Any

from flask import g, render_template, request

from ..alerts import guard, recipients
from ..canvas.connections import tab_status
from ..extensions import reads_only
from ..lti.tokens import require_launch
from ..rostering import approvals, bp, reading, retention, sync
from ..rostering.schedule import describe_interval, next_run
from ..rostering.views import health_section, int_arg, job_filter
from ..timeutil import utcnow


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
    page = render_template(
        "rostering/index.html",
        jobs=jobs,
        job_filter=jobs_filter,
        health_html=health_section(overview.newest),
        schedule=schedule,
        interval=describe_interval(schedule) if schedule else "",
        next_run=next_run(schedule, utcnow()) if schedule else None,
        running=overview.running,
        pending_request=overview.pending_request,
        canvas=tab_status(g.launch.tenant),
        holds=approvals.pending(tenant_id),
        alert_recipients=recipients.for_tenant(tenant_id),
        email_configured=recipients.email_configured(),
        guard=guard.thresholds(tenant_id),
        history=retention.keeping(tenant_id),
        history_choices=retention.CHOICES,
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


from . import alerts, details, history  # noqa: E402,F401  (their routes register on import)
