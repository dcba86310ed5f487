"""Who hears of an institution's syncs: email addresses and webhooks, added by its admins in
the tab or by the operator's command, at most ``MAX_RECIPIENTS`` each."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import func, select

from .. import crypto, outbound
from ..extensions import db
from ..i18n import N_
from . import channels
from .models import EVENT_NAMES, AlertRecipient, Channel

MAX_RECIPIENTS = 20
_EMAIL = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


class RecipientRefused(Exception):
    """A recipient that cannot be added; ``text`` is a catalog id with its ``values``."""

    def __init__(self, text: str, **values: Any) -> None:
        super().__init__(text % values if values else text)
        self.text, self.values = text, values


def email_configured() -> bool:
    """Whether the operator set up a mail server (``MAIL_SERVER``)."""
    return bool(current_app.config.get("MAIL_SERVER"))


def for_tenant(tenant_id: int) -> list[AlertRecipient]:
    """The tenant's recipients, in the order they were added."""
    return list(
        db.session.scalars(
            select(AlertRecipient)
            .where(AlertRecipient.tenant_id == tenant_id)
            .order_by(AlertRecipient.id)
        )
    )


def get(tenant_id: int, recipient_id: int) -> AlertRecipient | None:
    """One of the tenant's recipients; None for another tenant's."""
    return db.session.scalars(
        select(AlertRecipient).where(
            AlertRecipient.tenant_id == tenant_id, AlertRecipient.id == recipient_id
        )
    ).first()


def _events(events: list[str] | None) -> list[str]:
    chosen = EVENT_NAMES if events is None else [e.strip() for e in events if e.strip()]
    unknown = sorted(set(chosen) - set(EVENT_NAMES))
    if unknown:
        raise RecipientRefused(
            N_("Unknown events: %(names)s. Choose from %(known)s."),
            names=", ".join(unknown),
            known=", ".join(EVENT_NAMES),
        )
    if not chosen:
        raise RecipientRefused(N_("Choose at least one event."))
    return [e for e in EVENT_NAMES if e in chosen]


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _email_digest(address: str) -> str:
    """An address's digest: the same mailbox however it is capitalised or padded."""
    return _digest("email:" + address.strip().lower())


def _room_for_one(tenant_id: int, digest: str) -> None:
    count = db.session.scalar(select(func.count()).where(AlertRecipient.tenant_id == tenant_id))
    if (count or 0) >= MAX_RECIPIENTS:
        raise RecipientRefused(
            N_("An institution can have at most %(num)s recipients."), num=MAX_RECIPIENTS
        )
    taken = db.session.scalar(
        select(AlertRecipient.id).where(
            AlertRecipient.tenant_id == tenant_id, AlertRecipient.digest == digest
        )
    )
    if taken is not None:
        raise RecipientRefused(N_("That recipient is already on the list."))


def add_email(
    tenant_id: int, address: str, *, events: list[str] | None, locale: str, added_by: str
) -> AlertRecipient:
    """Add an email address (commits)."""
    address = address.strip()
    if len(address) > 320 or not _EMAIL.match(address):
        raise RecipientRefused(N_("%(address)s is not an email address."), address=address)
    if not email_configured():
        raise RecipientRefused(N_("Email is not set up on this SIS Integration server."))
    digest = _email_digest(address)
    _room_for_one(tenant_id, digest)
    recipient = AlertRecipient(
        tenant_id=tenant_id,
        channel=Channel.EMAIL.value,
        email=address,
        digest=digest,
        events=_events(events),
        locale=locale,
        added_by=added_by,
    )
    db.session.add(recipient)
    db.session.commit()
    return recipient


def check_webhook_url(url: str) -> None:
    """Refuse a webhook URL the tool must not call (``outbound``'s guard)."""
    try:
        channels.check_webhook_url(url)
    except outbound.UrlRefused as exc:
        raise RecipientRefused(
            N_("This webhook URL cannot be used: %(reason)s."), reason=exc.reason
        ) from exc


def mask(url: str) -> str:
    """A webhook URL as the tab shows it: scheme, host, and the path's last four characters
    (the rest of a Slack or Teams URL is its secret)."""
    parts = urlsplit(url)
    tail = (parts.path.rstrip("/") or "/")[-4:]
    return f"{parts.scheme}://{parts.hostname}/…{tail}"


def new_secret() -> str:
    """A Standard Webhooks signing secret: whsec_ and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def add_webhook(
    tenant_id: int,
    url: str,
    channel: Channel,
    *,
    events: list[str] | None,
    locale: str,
    added_by: str,
) -> tuple[AlertRecipient, str | None]:
    """Add a webhook (commits); returns it and, for a ``json`` webhook, its signing secret,
    which is never shown again."""
    url = url.strip()
    if len(url) > 2048:
        raise RecipientRefused(
            N_("This webhook URL cannot be used: %(reason)s."), reason="too long"
        )
    check_webhook_url(url)
    digest = _digest("webhook:" + url)
    _room_for_one(tenant_id, digest)
    secret = new_secret() if channel is Channel.JSON else None
    recipient = AlertRecipient(
        tenant_id=tenant_id,
        channel=channel.value,
        url_encrypted=crypto.encrypt(url),
        url_hint=mask(url),
        secret_encrypted=crypto.encrypt(secret) if secret else None,
        digest=digest,
        events=_events(events),
        locale=locale,
        added_by=added_by,
    )
    db.session.add(recipient)
    db.session.commit()
    return recipient, secret


def describe(recipient: AlertRecipient) -> str:
    """A recipient in the activity trail: its address, or its webhook's kind and masked URL
    (never the URL itself: it is a secret)."""
    return recipient.email or f"{recipient.channel} webhook {recipient.url_hint}"


def delete(recipient: AlertRecipient | None) -> bool:
    """Remove a recipient (and what it was still owed); False when there is none. Commits."""
    if recipient is None:
        return False
    db.session.delete(recipient)
    db.session.commit()
    return True


def remove(tenant_id: int, recipient_id: int) -> bool:
    """Remove one of the tenant's recipients. Commits."""
    return delete(get(tenant_id, recipient_id))


def find_email(tenant_id: int, address: str) -> AlertRecipient | None:
    """The institution's recipient with this email address, if any."""
    digest = _email_digest(address)
    return db.session.scalars(
        select(AlertRecipient).where(
            AlertRecipient.tenant_id == tenant_id, AlertRecipient.digest == digest
        )
    ).first()
