"""The LTI 1.3 endpoints: the product's public contract with Canvas."""

from __future__ import annotations

import logging
from typing import Any

from flask import Response, g, jsonify, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from . import bp, dynamic_registration, keys, tool_config
from .errors import RegistrationRefused
from .launch import begin_login, complete_launch, purge_expired_login_records
from .registry import origin as registry_origin
from .tokens import PARAM, mint

log = logging.getLogger(__name__)

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
        return login.set_cookies(make_response(redirect(login.auth_url)))
    # The new window is top level: its state cookie is first-party, no storage needed.
    new_window_params: dict[str, Any] = {
        k: request.values[k] for k in LOGIN_PARAMS if request.values.get(k)
    }
    page = render_template(
        "lti/login.html",
        login=login,
        storage_target=storage_target,
        new_window_url=url_for("lti.login", new_window=1, **new_window_params),
    )
    return login.set_cookies(Response(page, mimetype="text/html"))


@bp.route("/launch", methods=["POST"])
def launch() -> BaseResponse | str:
    """The id_token launch: verify it, admit account admins, open the Rostering tab."""
    outcome = complete_launch()
    token: dict[str, Any] = {PARAM: mint(outcome.launch)}
    next_url = url_for("rostering.index", **token)
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
    return jsonify(tool_config.canvas_developer_key())


def _registration_params() -> tuple[str, str]:
    """The two parameters Canvas adds to the registration URL (in the form, on the POST: the
    page is in a third-party frame, so nothing travels in a cookie)."""
    url = request.values.get("openid_configuration", "").strip()
    token = request.values.get("registration_token", "").strip()
    # The page, and any refusal, shows in the frame of the Canvas that opened it.
    origin = registry_origin(url)
    if origin:
        g.frame_ancestors = [origin]
    if not url or not token:
        raise RegistrationRefused(
            "Open this address from Canvas: Admin → Developer Keys → + Developer Key → "
            "+ LTI Registration, and paste it there.",
            400,
        )
    return url, token


@bp.route("/register", methods=["GET", "POST"])
def register() -> str:
    """LTI Dynamic Registration: review what will be installed, then install it."""
    url, token = _registration_params()
    dynamic_registration.count_attempt(request.remote_addr or "unknown")
    configuration = dynamic_registration.load_configuration(url, token)
    if request.method == "GET":
        return render_template(
            "lti/register_review.html",
            configuration=configuration,
            url=url,
            token=token,
            custom_fields=tool_config.CUSTOM_FIELDS,
            title=tool_config.TITLE,
        )
    platform, deployment_id = dynamic_registration.register(configuration, token)
    return render_template(
        "lti/register_done.html",
        configuration=configuration,
        platform=platform,
        deployment_id=deployment_id,
        title=tool_config.TITLE,
    )
