"""Term rollover's safeguards in the tab: sync blackouts in the Schedule section (SIS Data –
import or manage), and beside the change guard a one-time allowance and "additions only" (SIS
Data – manage). Each change is in the activity trail; a refusal shows the tab again with the
reason beside the form."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import abort, g, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from .. import activity
from ..alerts import guard
from ..alerts.models import AlertSettings
from ..extensions import db
from ..lti.permissions import Need, requires
from ..lti.tokens import require_launch
from ..rostering import blackouts
from ..timeutil import zone_or_utc
from . import back_to, bp, render_settings


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(request.form.get(name, ""))
    except ValueError:
        return None


def _back(notice: str, anchor: str) -> Response:
    return back_to("settings_page", notice, anchor)


@bp.post("/blackouts")
@require_launch
@requires(Need.ACT)
def add_blackout() -> Any:
    """Add a blackout: from, to (inclusive dates, the institution's zone) and a reason."""
    starts_on, ends_on = _day("from"), _day("to")
    reason = request.form.get("reason", "").strip()
    if starts_on is None or ends_on is None:
        problem = gettext("Give the blackout's first and last day.")
        return render_settings(422, blackout_problem=problem)
    tenant_id = g.launch.tenant_id
    zone = blackouts.zone_of(tenant_id, g.launch.timezone)
    try:
        blackouts.add(
            tenant_id, starts_on, ends_on, reason=reason, zone=zone, by=g.launch.user_name
        )
    except blackouts.BlackoutRefused as exc:
        db.session.rollback()
        return render_settings(422, blackout_problem=gettext(exc.text, **exc.values))
    activity.record(
        tenant_id, "blackout.added", subject=reason,
        after={"from": starts_on.isoformat(), "to": ends_on.isoformat(), "timezone": zone},
    )  # fmt: skip
    db.session.commit()
    return _back("blackout-added", "blackouts-heading")


@bp.post("/blackouts/<int:blackout_id>/remove")
@require_launch
@requires(Need.ACT)
def remove_blackout(blackout_id: int) -> Response:
    """Remove one of the institution's blackouts."""
    blackout = blackouts.get(g.launch.tenant_id, blackout_id)
    if blackout is None:
        abort(404)
    activity.record(
        g.launch.tenant_id, "blackout.removed", subject=blackout.reason,
        before={"from": blackout.starts_on.isoformat(), "to": blackout.ends_on.isoformat()},
    )  # fmt: skip
    db.session.delete(blackout)
    db.session.commit()
    return _back("blackout-removed", "blackouts-heading")


@bp.post("/alerts/allowance")
@require_launch
@requires(Need.MANAGE)
def allow_more() -> Any:
    """Allow more for a while (or, with ``off``, end the allowance now)."""
    tenant_id = g.launch.tenant_id
    if request.form.get("off"):
        guard.end_allowance(tenant_id)
        db.session.commit()
        return _back("allowance-ended", "guard-heading")
    try:
        percent = int(request.form.get("percent", ""))
        count = int(request.form.get("count", ""))
        syncs = int(request.form["syncs"]) if request.form.get("syncs") else None
        until = _local(request.form.get("until", ""))
        before = guard.Thresholds.of(db.session.get(AlertSettings, tenant_id)).document()
        allowance = guard.allow(
            tenant_id, percent=percent, count=count, until=until, syncs=syncs,
            reason=request.form.get("reason", ""), by=g.launch.user_name,
        )  # fmt: skip
    except ValueError:
        db.session.rollback()
        return render_settings(
            422,
            alerts_problem=gettext(
                "An allowance needs a percentage from 1 to 100, a count of at least 1, a reason, "
                "and an end: a time within 7 days, or 1 to 10 syncs."
            ),
        )
    activity.record(
        tenant_id, "guard.allowance_set", subject=allowance.reason, before=before,
        after={"enabled": True, **allowance.document()},
    )  # fmt: skip
    db.session.commit()
    return _back("allowance-set", "guard-heading")


def _local(value: str) -> datetime | None:
    """A ``datetime-local`` field's value, in the admin's zone (none when empty)."""
    if not value:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=zone_or_utc(g.launch.timezone))


@bp.post("/alerts/additions_only")
@require_launch
@requires(Need.MANAGE)
def additions_only() -> Any:
    """Only add, never remove, from one day to another (or, with ``off``, stop now)."""
    tenant_id = g.launch.tenant_id
    if request.form.get("off"):
        guard.end_additions_only(tenant_id)
        db.session.commit()
        return _back("additions-ended", "guard-heading")
    starts_on, ends_on = _day("from"), _day("to")
    zone = blackouts.zone_of(tenant_id, g.launch.timezone)
    try:
        if starts_on is None or ends_on is None:
            raise ValueError("no range")
        guard.set_additions_only(tenant_id, starts_on, ends_on, zone)
    except ValueError:
        db.session.rollback()
        return render_settings(
            422,
            alerts_problem=gettext(
                "Additions only needs a first and last day, ending today or later, a year at most."
            ),
        )
    activity.record(
        tenant_id, "guard.additions_only_set",
        after={"from": starts_on.isoformat(), "to": ends_on.isoformat(), "timezone": zone},
    )  # fmt: skip
    db.session.commit()
    return _back("additions-set", "guard-heading")
