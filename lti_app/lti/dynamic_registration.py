"""LTI Dynamic Registration, as Canvas runs it: the admin pastes ``/lti/register`` into
*Developer Keys → + LTI Registration*; Canvas opens it in a frame with ``openid_configuration``
and ``registration_token``; the tool reads the platform's configuration, shows what it will
register, and on the admin's word registers itself and stores the answer.

PyLTI1p3 has no support for it; this module builds on the registry (platforms, deployments) and
the tool's keys (its JWKS URL is what the platform will use).

The registration URL is public, so every URL it is given is guarded before it is fetched:
allowed hosts only, https in production, no redirects, no private or loopback addresses unless
an operator names the host, a timeout and a size limit on every answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import current_app

from .. import outbound
from ..extensions import db
from ..timeutil import utcnow
from . import registry, tool_config
from .errors import RegistrationRefused
from .models import LoginRecord, Platform

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
CANVAS_ACCOUNT_NAME = "https://canvas.instructure.com/lti/account_name"
NOT_ALLOWED = "This Canvas is not allowed to register SIS Integration."
RATE_WINDOW = timedelta(minutes=10)


@dataclass(frozen=True)
class PlatformConfiguration:
    """What the tool needs of the platform's OpenID configuration."""

    url: str
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    product_family_code: str
    account_name: str
    placement: str  # Account Navigation, named as the platform names it


def guard(url: str) -> str:
    """Refuse a URL the tool must not fetch; return its host."""
    config = current_app.config
    try:
        return outbound.check(
            url,
            config["REGISTRATION_ALLOWED_HOSTS"],
            https_only=config["APP_ENV"] == "production",
        )
    except outbound.UrlRefused as exc:
        if exc.kind == "not_allowed":
            raise RegistrationRefused(NOT_ALLOWED, 403) from exc
        if exc.kind == "unknown_host":
            raise RegistrationRefused(f"The {exc.reason[4:]}.", 400) from exc
        raise RegistrationRefused(
            "Canvas gave a configuration URL SIS Integration cannot use (https is required).", 400
        ) from exc


def _fetch(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    """One guarded request: no redirects, a timeout, at most REGISTRATION_MAX_BYTES, JSON. An
    answer the tool will not use (a redirect, too large, not JSON) is the input's fault: 422,
    never a 5xx; only a Canvas that cannot be reached is a 502."""
    guard(url)
    config = current_app.config
    try:
        with requests.request(
            method,
            url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            json=body,
            timeout=config["REGISTRATION_TIMEOUT_SECONDS"],
            allow_redirects=False,
            stream=True,
        ) as response:
            if response.is_redirect or 300 <= response.status_code < 400:
                raise RegistrationRefused(
                    "Canvas answered with a redirect, which SIS Integration does not follow.", 422
                )
            limit = config["REGISTRATION_MAX_BYTES"]
            content = b""
            for chunk in response.iter_content(16 * 1024):
                content += chunk
                if len(content) > limit:
                    raise RegistrationRefused(f"Canvas's answer is larger than {limit} bytes.", 422)
            status = response.status_code
    except requests.RequestException as exc:
        raise RegistrationRefused("Canvas could not be reached to register.", 502) from exc
    try:
        return status, json.loads(content)
    except ValueError as exc:
        if status >= 400:
            return status, None
        raise RegistrationRefused("Canvas's answer was not JSON.", 422) from exc


def _canvas_message(answer: Any) -> str:
    """The sentence in a Canvas (or specification-style) error answer."""
    if isinstance(answer, dict):
        errors = answer.get("errors")
        if isinstance(errors, list):
            texts = [e.get("message") if isinstance(e, dict) else e for e in errors]
            return "; ".join(str(t) for t in texts if t)[:500]
        if isinstance(errors, dict):
            return "; ".join(f"{k}: {v}" for k, v in errors.items())[:500]
        for key in ("error_description", "message", "error"):
            if isinstance(answer.get(key), str):
                return answer[key][:500]
    return "no reason given"


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def load_configuration(url: str, token: str) -> PlatformConfiguration:
    """Fetch and check the platform's OpenID configuration, exactly at the URL given."""
    status, data = _fetch("GET", url, token)
    if status == 401:
        raise RegistrationRefused(
            "Canvas refused the registration token (it is valid for an hour): start the "
            "registration again from Developer Keys.",
            401,
        )
    if status != 200 or not isinstance(data, dict):
        raise RegistrationRefused(f"Canvas answered {status} for its configuration.", 502)
    issuer = _text(data.get("issuer"))
    if urlsplit(issuer).hostname != urlsplit(url).hostname:
        raise RegistrationRefused(
            "The platform's issuer is not on the host that served its configuration.", 400
        )
    platform = data.get(PLATFORM_CONFIGURATION)
    if not isinstance(platform, dict):
        raise RegistrationRefused("The platform's configuration does not describe LTI.", 400)
    if "RS256" not in (data.get("id_token_signing_alg_values_supported") or []):
        raise RegistrationRefused("The platform does not sign launches with RS256.", 400)
    messages = [m for m in platform.get("messages_supported") or [] if isinstance(m, dict)]
    resource_link = next((m for m in messages if m.get("type") == tool_config.RESOURCE_LINK), None)
    if resource_link is None:
        raise RegistrationRefused("The platform does not support resource link launches.", 400)
    family = _text(platform.get("product_family_code"))
    placements = [p for p in resource_link.get("placements") or [] if isinstance(p, str)]
    # Canvas names its placements by URI in the configuration; older Canvases and the
    # specification's examples use the short name. Either is accepted, and sent back as given.
    placement = next(
        (p for p in placements if p in (tool_config.CANVAS_PLACEMENT_URI, tool_config.PLACEMENT)),
        "",
    )
    if family == "canvas" and not placement:
        raise RegistrationRefused(
            "This Canvas does not offer the Account Navigation placement.", 400
        )
    endpoints = {
        name: _text(data.get(name))
        for name in (
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
            "registration_endpoint",
        )
    }
    missing = [name for name, value in endpoints.items() if not value]
    if missing:
        raise RegistrationRefused(f"The platform's configuration lacks {', '.join(missing)}.", 400)
    return PlatformConfiguration(
        url=url,
        issuer=issuer,
        product_family_code=family,
        account_name=_text(platform.get(CANVAS_ACCOUNT_NAME)),
        placement=placement or tool_config.CANVAS_PLACEMENT_URI,
        **endpoints,
    )


def register(configuration: PlatformConfiguration, token: str) -> tuple[Platform, str | None]:
    """Register the tool with the platform and store the answer; returns the platform and
    its deployment id, when the answer named one."""
    body = tool_config.registration_request(configuration.placement)
    status, answer = _fetch("POST", configuration.registration_endpoint, token, body)
    if status not in (200, 201):
        raise RegistrationRefused(
            f"Canvas refused the registration: {_canvas_message(answer)}",
            422 if status == 422 else 502,
        )
    if not isinstance(answer, dict) or not _text(answer.get("client_id")):
        raise RegistrationRefused("Canvas's registration answer held no client id.", 502)
    tool = answer.get(TOOL_CONFIGURATION)
    # Canvas returns the deployment at the top level; the specification puts it inside the
    # tool configuration. Read both.
    deployment_id = _text(answer.get("deployment_id")) or (
        _text(tool.get("deployment_id")) if isinstance(tool, dict) else ""
    )
    spec = registry.PlatformSpec(
        issuer=configuration.issuer,
        client_id=str(answer["client_id"]),
        auth_login_url=configuration.authorization_endpoint,
        auth_token_url=configuration.token_endpoint,
        key_set_url=configuration.jwks_uri,
    )
    platform = registry.register(
        spec,
        [deployment_id] if deployment_id else [],
        configuration.account_name,
        via="dynamic",
        pending=current_app.config["REGISTRATION_REQUIRES_APPROVAL"],
    )
    return platform, deployment_id or None


def count_attempt(address: str) -> None:
    """Refuse an address that has tried too many registrations in ten minutes."""
    key = f"registration-attempts:{address}"
    now = utcnow()
    record = db.session.get(LoginRecord, key)
    if record is None or record.expires_at <= now:
        record = db.session.merge(
            LoginRecord(key=key, value={"count": 0}, expires_at=now + RATE_WINDOW)
        )
    count = int((record.value or {}).get("count", 0)) + 1
    record.value = {"count": count}
    db.session.commit()
    if count > current_app.config["REGISTRATION_RATE_LIMIT"]:
        raise RegistrationRefused(
            "Too many registrations from this address; try again in a few minutes.", 429
        )
