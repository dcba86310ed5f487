"""The Schedule section's and the list's actions: Sync now (which, during a blackout, asks the
admin to confirm first) and Pause / Resume. SIS Data – import or manage."""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, request
from werkzeug.wrappers import Response

from .. import activity
from ..lti.permissions import Need, requires
from ..lti.tokens import require_launch, tool_url
from ..rostering import blackouts, sync
from . import bp, render_tab


def _back_to_list() -> Response:
    """After an action, show the list again where the admin was (303: a reload is a GET)."""
    page = request.form.get("page", type=int) or 1
    return redirect(tool_url("rostering.index", page=page), code=303)


@bp.post("/sync_requests")
@require_launch
@requires(Need.ACT)
def sync_now() -> Any:
    """Sync now: ask the SIS integration for a sync; one pending request at a time. During
    a blackout, only once the admin confirms."""
    tenant_id = g.launch.tenant_id
    blackout = blackouts.current(tenant_id)
    if blackout is not None and request.form.get("confirm") != "yes":
        return render_tab(409, confirm_sync=blackout)
    pending = sync.pending_request(tenant_id)
    activity.record(
        tenant_id,
        "sync.requested",
        subject=f"already pending: {pending.id}" if pending else "",
        after={"during_blackout": blackout.reason or True} if blackout else None,
    )
    sync.request_sync(tenant_id, g.launch.user_name, g.launch.user_id)
    return _back_to_list()


@bp.post("/schedule/<any(pause, resume):action>")
@require_launch
@requires(Need.ACT)
def pause_or_resume(action: str) -> Response:
    """Pause or resume the sync schedule."""
    schedule = sync.get_schedule(g.launch.tenant_id)
    if schedule is None:
        abort(404)
    activity.record(
        g.launch.tenant_id,
        "schedule.paused" if action == "pause" else "schedule.resumed",
        before={"enabled": schedule.enabled},
        after={"enabled": action != "pause"},
    )
    sync.set_paused(g.launch.tenant_id, action == "pause", g.launch.user_name)
    return _back_to_list()
