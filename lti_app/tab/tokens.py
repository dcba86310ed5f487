"""The SIS agent tokens section: an institution's admins (SIS Data – manage) make a token for
their own SIS agent, shown once with the API's address and a first request to try, and revoke
one. The same tokens as ``flask api-token``."""

from __future__ import annotations

from typing import Any

from flask import abort, g, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from .. import activity
from ..api import tokens
from ..lti.permissions import Need, requires
from ..lti.tokens import require_launch
from . import back_to, bp, render_settings


@bp.post("/tokens")
@require_launch
@requires(Need.MANAGE)
def create_token() -> Any:
    """Make a token for this institution's SIS agent; it is shown this once."""
    name = request.form.get("name", "").strip()
    if not 1 <= len(name) <= 255:
        problem = gettext("Name the token (what it is for, e.g. “OneRoster agent”).")
        return render_settings(422, tokens_problem=problem)
    if tokens.live_count(g.launch.tenant_id) >= tokens.MAX_LIVE:
        problem = gettext(
            "This institution has %(num)s live tokens, the most it may have: revoke one first.",
            num=tokens.MAX_LIVE,
        )
        return render_settings(422, tokens_problem=problem)
    activity.record(g.launch.tenant_id, "token.created", subject=name)
    _, plain = tokens.create(g.launch.tenant, name, created_by=g.launch.user_name)
    api_base = request.host_url.rstrip("/") + "/api/v1"
    return render_settings(201, new_token=plain, new_token_name=name, api_base=api_base)


@bp.post("/tokens/<int:token_id>/revoke")
@require_launch
@requires(Need.MANAGE)
def revoke_token(token_id: int) -> Response:
    """Revoke one of this institution's tokens: its next request is refused, on every worker."""
    token = tokens.live(g.launch.tenant_id, token_id)
    if token is None:
        abort(404)
    activity.record(g.launch.tenant_id, "token.revoked", subject=token.name)
    tokens.revoke(g.launch.tenant, token_id)
    return back_to("settings_page", "token-revoked", "tokens")
