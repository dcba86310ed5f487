"""The LTI 1.3 endpoints: the product's public contract with Canvas."""

from __future__ import annotations

import logging
from typing import Any

from flask import jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from . import bp, keys
from .launch import begin_login, complete_launch, purge_expired_login_records
from .tokens import PARAM, mint

log = logging.getLogger(__name__)

TITLE = "SIS Integration"
LOGIN_PARAMS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "lti_deployment_id",
    "client_id",
)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    """OIDC third-party login initiation."""
    purge_expired_login_records()
    storage_target = request.values.get("lti_storage_target") or None
    login = begin_login(url_for("lti.launch", _external=True), storage_target)
    # Browsers say whether this is a top-level page or a frame. Top level, the state cookie is
    # first-party and a plain redirect does. In a frame, a small page first puts the state in
    # the platform's storage when offered, and offers a new window when nothing can hold it.
    if request.headers.get("Sec-Fetch-Dest") == "document" or request.values.get("new_window"):
        return login.set_cookies(redirect(login.auth_url))
    # The new window is top level: its state cookie is first-party, no storage needed.
    new_window_params = {k: request.values[k] for k in LOGIN_PARAMS if request.values.get(k)}
    page = render_template(
        "lti/login.html",
        login=login,
        storage_target=storage_target,
        new_window_url=url_for("lti.login", new_window=1, **new_window_params),
    )
    return login.set_cookies(Response(page, mimetype="text/html"))


@bp.route("/launch", methods=["POST"])
def launch() -> Response | str:
    """The id_token launch: verify it, admit account admins, open the Rostering tab."""
    outcome = complete_launch()
    next_url = url_for("rostering.index", **{PARAM: mint(outcome.launch)})
    if outcome.state_checked_by == "platform_storage":
        return render_template("lti/launch_check.html", outcome=outcome, next_url=next_url)
    # 303 so that reloading the tool page does not resubmit (and replay) the launch.
    return redirect(next_url, code=303)


@bp.route("/jwks")
def jwks() -> Response:
    """The tool's public keys."""
    return jsonify(keys.jwks())


@bp.route("/config.json")
def canvas_config() -> Response:
    """The Canvas developer key JSON, with absolute URLs for the host Canvas reached us on."""
    launch_url = url_for("lti.launch", _external=True)
    custom_fields = {
        "canvas_account_id": "$Canvas.account.id",
        "canvas_account_name": "$Canvas.account.name",
        "canvas_membership_roles": "$Canvas.membership.roles",
        "user_timezone": "$Person.address.timezone",
        # Where Canvas's REST API is and the root account that holds the SIS imports.
        "canvas_api_base_url": "$Canvas.api.baseUrl",
        "canvas_root_account_id": "$Canvas.rootAccount.id",
    }
    placement: dict[str, Any] = {
        "placement": "account_navigation",
        "message_type": "LtiResourceLinkRequest",
        "text": TITLE,
        "target_link_uri": launch_url,
        "enabled": True,
        "custom_fields": custom_fields,
    }
    return jsonify(
        {
            "title": TITLE,
            "description": "Rostering sync history between your Student Information System "
            "and Canvas: schedule, jobs, change details and CSV download.",
            "oidc_initiation_url": url_for("lti.login", _external=True),
            "target_link_uri": launch_url,
            "public_jwk_url": url_for("lti.jwks", _external=True),
            "scopes": [],
            "custom_fields": custom_fields,
            "extensions": [
                {
                    "platform": "canvas.instructure.com",
                    "domain": request.host,
                    "tool_id": "sis-integration",
                    "privacy_level": "public",
                    "settings": {"text": TITLE, "placements": [placement]},
                }
            ],
        }
    )
