"""The SIS Integration page, composed: the Rostering tab (the job store's schedule, health and
jobs list, with held syncs and live status) and the Settings tab (the Canvas connection,
blackouts, Alerts, the change guard, agent tokens, History), with the Activity tab beside them
(``activity.py``). It lives above every room it shows, so none of them needs to know of
another; each action is in the module named for what it acts on."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, g, redirect, render_template, request
from werkzeug.wrappers import Response as BaseResponse

from ..extensions import reads_only
from ..formatting import duration
from ..lti.permissions import Need, may
from ..lti.tokens import require_launch, tool_url
from ..rostering import reading
from ..timeutil import utcnow

# The SIS Integration page's blueprint: every /rostering/ route is here, in the module named for
# what it acts on.
bp: Blueprint = Blueprint("rostering", __name__, url_prefix="/rostering")

from . import fragments, queries  # noqa: E402
from .jobs import health_section, int_arg, job_filter  # noqa: E402  (its routes too)


def _who() -> dict[str, Any]:
    """What every page of the tab says of who is looking and what they just did: whether they
    may act and manage, and the notice a redirect brought (what a control needs is the
    templates' global ``needs``)."""
    return dict(
        may_act=may(g.launch, Need.ACT),
        may_manage=may(g.launch, Need.MANAGE),
        notice=request.args.get("notice", ""),
    )


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
    who = _who()
    view = queries.rostering(
        tenant, jobs_filter, jobs, utcnow(),
        may_act=who["may_act"], expire_hours=current_app.config["HOLD_EXPIRES_HOURS"],
    )  # fmt: skip
    page = render_template(
        "rostering/index.html",
        view=view,
        health_html=health_section(view.state.newest),
        rows_html=fragments.job_rows(view.rows, duration(view.stuck_for_minutes)),
        **who,
        **extra,
    )
    return page, status


def render_settings(status: int = 200, **extra: Any) -> tuple[str, int]:
    """The Settings tab for ``g.launch``: the Canvas connection, blackouts, Alerts with the
    change guard and term rollover, the agent's tokens and History; ``extra`` for what the
    admin sent that was refused, or a secret shown once."""
    view = queries.settings(g.launch.tenant, utcnow())
    return render_template("rostering/settings.html", view=view, **_who(), **extra), status


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


def back_to(page: str, notice: str | None = None, anchor: str | None = None) -> BaseResponse:
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
