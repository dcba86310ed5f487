"""Connect to Canvas from the Rostering tab: the OAuth2 flow in a window of its own (Canvas's
authorization page refuses to be framed), and Disconnect."""

from __future__ import annotations

import logging

from flask import abort, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from .. import activity, crypto
from ..extensions import db
from ..lti.models import Launch
from ..lti.permissions import Need, requires
from ..lti.tokens import require_launch, tool_url
from ..timeutil import utcnow
from . import bp, connections, oauth
from .client import CanvasError

log = logging.getLogger(__name__)
STATE_MAX_AGE = 600  # seconds an admin has to approve the tool in Canvas


def _states() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="sis-integration.canvas")


def _callback_url() -> str:
    return url_for("canvas.oauth_callback", _external=True)


@bp.post("/connect")
@require_launch
@requires(Need.MANAGE)
def connect() -> Response:
    """Start the OAuth2 flow. The tab's form targets a new window, so this redirect (and
    Canvas's login and approval pages) happen top level, with the admin's Canvas session."""
    tenant = g.launch.tenant
    key = connections.api_key_for(tenant.canvas_api_base_url)
    if key is None:
        abort(404)
    activity.record(tenant.id, "canvas.connect_started", subject=key.base_url)
    db.session.commit()
    state = _states().dumps({"launch": g.launch.id})
    return redirect(oauth.authorize_url(key.base_url, key.client_id, _callback_url(), state), 303)


def _finished(ok: bool, title: str, message: str, status: int = 200) -> tuple[str, int]:
    page = render_template("canvas/connected.html", ok=ok, title=title, message=message)
    return page, status


@bp.get("/oauth/callback")
def oauth_callback() -> tuple[str, int]:
    """Canvas sends the admin back here: trade the code for tokens and keep them."""
    try:
        state = _states().loads(request.args.get("state", ""), max_age=STATE_MAX_AGE)
        launch = db.session.get(Launch, state["launch"])
    except (BadSignature, KeyError, TypeError):
        launch = None
    if launch is None or launch.expires_at <= utcnow():
        return _finished(
            False,
            gettext("This connection request has expired"),
            gettext("Open SIS Integration from Canvas again and select Connect to Canvas."),
            400,
        )
    if request.args.get("error") or not request.args.get("code"):
        return _finished(
            False,
            gettext("Canvas did not connect"),
            gettext("Access was not granted in Canvas, so nothing was connected."),
            400,
        )
    tenant = launch.tenant
    key = connections.api_key_for(tenant.canvas_api_base_url)
    if key is None:
        abort(404)
    try:
        tokens = oauth.exchange_code(
            key.base_url,
            key.client_id,
            crypto.decrypt(key.client_secret_encrypted),
            _callback_url(),
            request.args["code"],
        )
    except CanvasError as exc:
        log.warning("Canvas OAuth code exchange failed for tenant %s: %s", tenant.id, exc)
        return _finished(
            False,
            gettext("Canvas did not connect"),
            gettext("%(reason)s Please try again.", reason=str(exc)),
            502,
        )
    activity.record(
        tenant.id, "canvas.connected", subject=key.base_url, actor=activity.actor_of(launch)
    )
    connections.connect(
        tenant,
        base_url=key.base_url,
        account_id=tenant.canvas_root_account_id or "self",
        method="oauth",
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
        connected_by=tokens.user_name or launch.user_name,
    )
    return _finished(
        True,
        gettext("Connected to Canvas"),
        gettext(
            "SIS Integration now reads your institution's Canvas SIS imports. "
            "You can close this window; the history fills in within a minute."
        ),
    )


@bp.post("/disconnect")
@require_launch
@requires(Need.MANAGE)
def disconnect() -> Response:
    """End the institution's connection (its tokens are deleted; mirrored jobs stay)."""
    connection = connections.for_tenant(g.launch.tenant_id)
    activity.record(
        g.launch.tenant_id, "canvas.disconnected", subject=connection.base_url if connection
        else "",
    )  # fmt: skip
    connections.disconnect(g.launch.tenant_id)
    return redirect(tool_url("rostering.settings_page", _anchor="canvas-heading"), 303)
