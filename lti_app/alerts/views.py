"""The unsubscribe link of every alert email. No launch: the link itself is signed, and names
one address at one institution."""

from __future__ import annotations

from typing import Any

from flask import abort, g, render_template, request

from .. import activity
from ..activity.models import ActorKind
from ..extensions import db
from ..lti.models import Tenant
from . import bp, outbox, recipients


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    """The link in every alert email. GET asks (a mail scanner following links removes
    nobody); POST removes the address, for one institution only: the button, and mail
    programs' one-click unsubscribe (RFC 8058)."""
    named = outbox.read_unsubscribe_token(token)
    if named is None:
        abort(404)
    tenant_id, address = named
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        abort(404)
    recipient = recipients.find_email(tenant_id, address)
    if recipient is not None:
        g.locale = recipient.locale  # the page speaks the language its emails spoke
    # (POST removes it for this institution only: the recipient is this institution's.)
    if request.method == "POST" and recipient is not None:
        activity.record(
            tenant_id, "alerts.unsubscribed", subject=address,
            actor=activity.Actor(ActorKind.PERSON, address),
        )  # fmt: skip
    removed = request.method == "POST" and recipients.delete(recipient)
    return render_template(
        "alerts/unsubscribe.html",
        address=address,
        institution=tenant.display_name,
        asking=request.method == "GET" and recipient is not None,
        removed=removed,
    )
