"""Launch tokens: how every click after the launch proves who it is, without a cookie.

A third-party iframe gets no cookies back, so each link and form in the tool carries a short
signed token naming the ``Launch`` row (tenant, user, role are there). Every page mints a fresh
one, so an admin at work keeps going; an idle link dies after LAUNCH_TOKEN_TTL, and no token
outlives its launch's LAUNCH_MAX_AGE.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, request, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..timeutil import utcnow
from .errors import LaunchExpired
from .models import Launch

PARAM = "launch_token"
_SALT = "sis-integration.launch-token"
# Every click after the launch runs this; built once, not per request.
_LAUNCH = select(Launch).options(joinedload(Launch.tenant)).where(Launch.id == bindparam("id"))

F = TypeVar("F", bound=Callable[..., Any])


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def mint(launch: Launch) -> str:
    """A fresh token for the launch."""
    return _serializer().dumps(launch.id)


def resolve(token: str | None) -> Launch:
    """The launch a token names; raises ``LaunchExpired`` when it is missing, altered or old."""
    if not token:
        raise LaunchExpired("no launch token")
    serializer = _serializer()
    try:
        launch_id = serializer.loads(token, max_age=current_app.config["LAUNCH_TOKEN_TTL"])
    except SignatureExpired as exc:
        # Genuine but old: the expired page still speaks the admin's language.
        expired = db.session.get(Launch, serializer.load_payload(exc.payload or b""))
        if expired is not None:
            g.locale, g.high_contrast = expired.locale, expired.high_contrast
        raise LaunchExpired("launch token rejected: SignatureExpired") from exc
    except BadSignature as exc:
        raise LaunchExpired(f"launch token rejected: {type(exc).__name__}") from exc
    launch = db.session.execute(_LAUNCH, {"id": launch_id}).scalar_one_or_none()
    if launch is None or launch.expires_at <= utcnow():
        raise LaunchExpired("launch is over")
    return launch


def require_launch(view: F) -> F:
    """Admit a request only with a valid launch token; sets ``g.launch`` and ``g.launch_token``.

    Only admins' launches are ever recorded, so a valid token is an admin's. Links carry it in
    the query string; forms that change something must carry it in their body, which no other
    site can read or forge: that is the tool's CSRF protection, with no cookie involved.
    """

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        source = request.args if request.method in ("GET", "HEAD") else request.form
        g.launch = resolve(source.get(PARAM))
        g.pop("api_token", None)  # one identity a request: this one acts for the admin
        g.launch_token = mint(g.launch)
        # Read once, now: an error page after a rollback (the database gone) must not ask the
        # database for them again through the expired launch.
        g.locale, g.high_contrast = g.launch.locale, g.launch.high_contrast
        return view(*args, **kwargs)

    return cast(F, wrapper)


def tool_url(endpoint: str, **values: Any) -> str:
    """``url_for`` that carries the current launch token, for links inside the tool."""
    return url_for(endpoint, **values, **{PARAM: g.launch_token})
