"""Sending: email through the operator's SMTP server (Flask-Mail), webhooks over HTTPS (signed
per Standard Webhooks for ``json``). Each try ends in an ``Outcome``: delivered, worth trying
again (a busy or unreachable server), or refused for good."""

from __future__ import annotations

import json
import smtplib
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
from flask import current_app
from flask_mail import Mail, Message
from standardwebhooks import Webhook

from .. import outbound

mail = Mail()


@dataclass(frozen=True)
class Outcome:
    """How one try went."""

    delivered: bool
    permanent: bool = False  # refused for good: no more tries
    error: str = ""  # "550 mailbox unavailable", "HTTP 503", "timed out"
    retry_after: float | None = None  # seconds the receiver asked us to wait


DELIVERED = Outcome(True)


def _smtp_error(code: int, text: bytes | str) -> Outcome:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    error = f"{code} {' '.join(text.split())}"[:300]
    return Outcome(False, permanent=500 <= code < 600, error=error)


def send_emails(messages: Iterable[Message]) -> Generator[Outcome, None, None]:
    """Send messages over one SMTP connection, yielding each one's outcome in order. When the
    server cannot be reached, or drops the connection, the rest are worth trying again."""
    pending = list(messages)
    sent = 0
    try:
        with mail.connect() as connection:
            for message in pending:
                try:
                    connection.send(message)
                except smtplib.SMTPRecipientsRefused as exc:
                    code, text = next(iter(exc.recipients.values()))
                    yield _smtp_error(code, text)
                except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                    yield _smtp_error(exc.smtp_code, exc.smtp_error)
                else:
                    yield DELIVERED
                sent += 1
    except (smtplib.SMTPException, OSError) as exc:
        if isinstance(exc.__context__, GeneratorExit):
            return  # closed by the caller (its round failed): the rest stay owed, unsent
        if isinstance(exc, smtplib.SMTPResponseException):
            # The connection itself was refused (a 4xx greeting, a failed login): all the rest.
            outcome = _smtp_error(exc.smtp_code, exc.smtp_error)
        else:
            error = f"mail server unreachable: {type(exc).__name__}: {exc}"[:300]
            outcome = Outcome(False, error=error)
        yield from (outcome for _ in pending[sent:])


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds, or an HTTP date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def check_webhook_url(url: str) -> None:
    """Refuse (``outbound.UrlRefused``) a webhook URL the tool must not call: on adding it,
    and again before every call (a host's addresses can change)."""
    config = current_app.config
    outbound.check(
        url,
        config["WEBHOOK_ALLOWED_HOSTS"],
        https_only=config["APP_ENV"] == "production",
        empty_allows_any=True,
    )


def post_webhook(
    url: str, body: dict, *, message_id: str, timestamp: datetime, secret: str | None
) -> Outcome:
    """POST a webhook. With a secret, signed per Standard Webhooks (``webhook-id``,
    ``webhook-timestamp``, ``webhook-signature``). The answer's body is never read."""
    try:
        check_webhook_url(url)
    except outbound.UrlRefused as exc:
        return Outcome(False, permanent=True, error=f"refused: {exc.reason}")
    config = current_app.config
    data = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    headers = {"Content-Type": "application/json", "User-Agent": "SIS-Integration-Alerts"}
    if secret:
        headers["webhook-id"] = message_id
        headers["webhook-timestamp"] = str(int(timestamp.timestamp()))
        headers["webhook-signature"] = Webhook(secret).sign(message_id, timestamp, data)
    try:
        with requests.post(
            url,
            data=data.encode(),
            headers=headers,
            timeout=config["WEBHOOK_TIMEOUT_SECONDS"],
            allow_redirects=False,
            stream=True,  # the body is not wanted: never downloaded
        ) as response:
            status = response.status_code
            retry_after = _retry_after(response.headers.get("Retry-After"))
    except requests.Timeout:
        return Outcome(False, error="timed out")
    except requests.RequestException as exc:
        return Outcome(False, error=f"unreachable: {type(exc).__name__}")
    if 200 <= status < 300:
        return DELIVERED
    if 300 <= status < 400:
        return Outcome(False, permanent=True, error=f"HTTP {status}: redirects are not followed")
    if status in (408, 429) or status >= 500:
        return Outcome(False, error=f"HTTP {status}", retry_after=retry_after)
    return Outcome(False, permanent=True, error=f"HTTP {status}")
