"""Canvas's OAuth2 flow for a user token: the authorization URL, the code exchange and the
refresh. Two form POSTs to ``/login/oauth2/token``; requests-oauthlib would refuse the plain
http of the development stand-in without a process-wide environment switch, so they are here.

Canvas quirks: the token answer names the user (``user.name``), which the tab shows as who
connected; a refresh answers a new access token but no new refresh token (the first one stays
valid until the user revokes it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

import requests
from flask import current_app

from ..timeutil import utcnow
from .client import CanvasError, TokenRejected

# What the tool reads: the list of SIS imports, one import, and an import's error rows, on
# the root account; and what it does when an admin asks: undo an import, stop one or the
# queued ones, and follow the undo's Progress. A connection made before a scope was asked for
# lacks it: Canvas answers 401 "Insufficient scopes on access token.", mirroring goes on, and
# the tab asks for a reconnect.
SCOPES = (
    "url:GET|/api/v1/accounts/:account_id/sis_imports",
    "url:GET|/api/v1/accounts/:account_id/sis_imports/:id",
    "url:GET|/api/v1/accounts/:account_id/sis_imports/:id/errors",
    "url:PUT|/api/v1/accounts/:account_id/sis_imports/:id/restore_states",
    "url:PUT|/api/v1/accounts/:account_id/sis_imports/:id/abort",
    "url:PUT|/api/v1/accounts/:account_id/sis_imports/abort_all_pending",
    "url:GET|/api/v1/progress/:id",
)
MAX_ANSWER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None
    user_name: str


def authorize_url(base_url: str, client_id: str, redirect_uri: str, state: str) -> str:
    """Where the admin's new window goes to grant the tool read access to SIS imports."""
    query = {
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "state": state,
        "scope": " ".join(SCOPES),
    }
    return f"{base_url.rstrip('/')}/login/oauth2/auth?{urlencode(query)}"


def _token_request(base_url: str, fields: dict[str, str]) -> dict[str, object]:
    try:
        response = requests.post(
            f"{base_url.rstrip('/')}/login/oauth2/token",
            data=fields,
            timeout=current_app.config["CANVAS_TIMEOUT_SECONDS"],
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        raise CanvasError("Canvas could not be reached to finish connecting.") from exc
    if response.status_code in (400, 401):
        raise TokenRejected("Canvas refused the authorization.")
    if response.status_code != 200 or len(response.content) > MAX_ANSWER_BYTES:
        raise CanvasError(f"Canvas answered {response.status_code} while connecting.")
    try:
        answer = response.json()
    except ValueError as exc:
        raise CanvasError("Canvas's answer was not JSON.") from exc
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
        raise CanvasError("Canvas's answer held no access token.")
    return answer


def _tokens(answer: dict[str, object], refresh_token: str | None) -> Tokens:
    expires_in = answer.get("expires_in")
    user = answer.get("user")
    name = user.get("name") if isinstance(user, dict) else None
    return Tokens(
        access_token=str(answer["access_token"]),
        refresh_token=str(answer.get("refresh_token") or refresh_token or "") or None,
        expires_at=utcnow() + timedelta(seconds=expires_in)
        if isinstance(expires_in, int)
        else None,
        user_name=name if isinstance(name, str) else "",
    )


def exchange_code(
    base_url: str, client_id: str, client_secret: str, redirect_uri: str, code: str
) -> Tokens:
    """Trade the authorization code for tokens."""
    answer = _token_request(
        base_url,
        {
            "grant_type": "authorization_code",
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )
    return _tokens(answer, None)


def refresh(base_url: str, client_id: str, client_secret: str, refresh_token: str) -> Tokens:
    """A new access token from the refresh token."""
    answer = _token_request(
        base_url,
        {
            "grant_type": "refresh_token",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh_token,
        },
    )
    return _tokens(answer, refresh_token)
