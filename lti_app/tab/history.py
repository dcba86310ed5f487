"""The History section's action: how long the institution keeps its Rostering Jobs history."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import gettext

from .. import activity
from ..extensions import db
from ..lti.permissions import Need, requires
from ..lti.tokens import require_launch
from ..rostering import retention
from ..rostering.models import HistoryPolicy
from . import back_to, bp, render_settings


@bp.post("/history")
@require_launch
@requires(Need.MANAGE)
def keep_history() -> Any:
    """Keep the history forever or 1, 2, 3 or 5 years (within the operator's ceiling)."""
    choice = request.form.get("years", "")
    years = None if choice == "forever" else (int(choice) if choice.isdigit() else -1)
    ceiling = retention.ceiling()
    offered = years is None or years in retention.CHOICES
    if not offered or (ceiling and (years is None or years > ceiling)):
        # Not one of the choices, or over the operator's ceiling (offered disabled).
        return render_settings(
            422, history_problem=gettext("Choose one of the lengths of history offered.")
        )
    before = retention.keeping_of(db.session.get(HistoryPolicy, g.launch.tenant_id)).chosen
    activity.record(
        g.launch.tenant_id,
        "history.changed",
        before={"years": before or "forever"},
        after={"years": years or "forever"},
    )
    retention.keep(g.launch.tenant_id, years, g.launch.user_name)
    return back_to("settings_page", "history-saved", "history")
