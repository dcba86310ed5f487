"""The History section's action: how long the institution keeps its Rostering Jobs history."""

from __future__ import annotations

from typing import Any

from flask import g, redirect, request
from flask_babel import gettext

from ..lti.tokens import require_launch, tool_url
from ..rostering import bp, retention
from . import render_tab


@bp.post("/history")
@require_launch
def keep_history() -> Any:
    """Keep the history forever or 1, 2, 3 or 5 years (within the operator's ceiling)."""
    choice = request.form.get("years", "")
    years = None if choice == "forever" else (int(choice) if choice.isdigit() else -1)
    ceiling = retention.ceiling()
    try:
        if ceiling and (years is None or years > ceiling):
            raise ValueError("longer than the operator keeps")  # offered disabled
        retention.keep(g.launch.tenant_id, years, g.launch.user_name)
    except ValueError:  # not one of retention.CHOICES, or over the ceiling
        return render_tab(
            422, history_problem=gettext("Choose one of the lengths of history offered.")
        )
    return redirect(tool_url("rostering.index", notice="history-saved", _anchor="history"), 303)
