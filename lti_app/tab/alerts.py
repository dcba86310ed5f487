"""The Alerts section's actions (admins only, with the launch token in the form) and the
decision on a held sync. A refusal shows the tab again with the problem beside the form.

Who may: any admin who gets in adds, tests and removes their own email address (the launch's
``email``); other addresses, webhooks and the change guard need SIS Data – manage; deciding a
held sync needs SIS Data – import or manage."""

from __future__ import annotations

from typing import Any

from flask import abort, g, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from .. import activity
from ..alerts import guard, outbox, recipients
from ..alerts.models import AlertSettings, Channel
from ..extensions import db
from ..i18n import N_
from ..lti.permissions import Need, require, requires
from ..lti.tokens import require_launch
from ..rostering import approvals, reading
from . import back_to, bp, render_settings, render_tab

_CHANNELS = {channel.value: channel for channel in Channel}


def _back(notice: str) -> Response:
    return back_to("settings_page", notice, "alerts")


def _refused(exc: recipients.RecipientRefused) -> tuple[str, int]:
    return render_settings(422, alerts_problem=gettext(exc.text, **exc.values))


@bp.post("/alerts/recipients")
@require_launch
def add_recipient() -> Any:
    """Add an email address or a webhook for this institution."""
    launch = g.launch
    channel = _CHANNELS.get(request.form.get("channel", ""))
    events = request.form.getlist("events")
    address = request.form.get("address", "")
    if channel is not Channel.EMAIL or not _own(address):
        require(Need.MANAGE, "add_recipient")
    try:
        if channel is None:
            raise recipients.RecipientRefused(N_("Choose email or a webhook format."))
        if channel is Channel.EMAIL:
            activity.record(launch.tenant_id, "alerts.recipient_added", subject=address.strip())
            recipients.add_email(
                launch.tenant_id,
                address,
                events=events,
                locale=launch.locale,
                added_by=launch.user_name,
            )
            return _back("recipient-added")
        activity.record(
            launch.tenant_id, "alerts.recipient_added", subject=f"{channel.value} webhook",
            after={"channel": channel.value},
        )  # fmt: skip
        _, secret = recipients.add_webhook(
            launch.tenant_id,
            request.form.get("url", ""),
            channel,
            events=events,
            locale=launch.locale,
            added_by=launch.user_name,
        )
    except recipients.RecipientRefused as exc:
        return _refused(exc)
    if secret:
        # Shown this once: the receiver verifies signatures with it.
        return render_settings(201, new_secret=secret)
    return _back("recipient-added")


def _own(address: str | None) -> bool:
    """Whether an address is the admin's own (the launch's email claim)."""
    mine = g.launch.email.strip().lower()
    return bool(mine) and (address or "").strip().lower() == mine


def _recipient_or_404(recipient_id: int, action: str) -> Any:
    """One of this institution's recipients; another's needs SIS Data – manage."""
    recipient = recipients.get(g.launch.tenant_id, recipient_id)
    if recipient is None:
        abort(404)
    if not (recipient.channel == Channel.EMAIL and _own(recipient.email)):
        require(Need.MANAGE, action)
    return recipient


@bp.post("/alerts/recipients/<int:recipient_id>/remove")
@require_launch
def remove_recipient(recipient_id: int) -> Response:
    """Remove one of this institution's recipients."""
    recipient = _recipient_or_404(recipient_id, "remove_recipient")
    activity.record(
        g.launch.tenant_id, "alerts.recipient_removed", subject=recipients.describe(recipient)
    )
    recipients.remove(g.launch.tenant_id, recipient_id)
    return _back("recipient-removed")


@bp.post("/alerts/recipients/<int:recipient_id>/test")
@require_launch
def test_recipient(recipient_id: int) -> Response:
    """Send a test alert now; the list then shows how it went (a refused test is not
    retried; one the server could not take now is, by the workers)."""
    recipient = _recipient_or_404(recipient_id, "test_recipient")
    activity.record(
        g.launch.tenant_id, "alerts.test_sent", subject=recipients.describe(recipient)
    )
    owner = f"request:{g.get('request_id', '-')}"
    delivery = outbox.queue_test(recipient, owner)
    outbox.send([delivery])
    return _back("test-sent")


@bp.post("/alerts/guard")
@require_launch
@requires(Need.MANAGE)
def configure_guard() -> Any:
    """Turn the change guard on or off and set its lines."""
    try:
        percent = int(request.form.get("percent", ""))
        count = int(request.form.get("count", ""))
        enabled = request.form.get("enabled") == "on"
        before = guard.Thresholds.of(db.session.get(AlertSettings, g.launch.tenant_id))
        activity.record(
            g.launch.tenant_id,
            "guard.changed",
            before=before.document(),
            after=guard.Thresholds(enabled, percent, count).document(),
        )
        guard.configure(
            g.launch.tenant_id,
            enabled=enabled,
            percent=percent,
            count=count,
            by=g.launch.user_name,
        )
    except ValueError:
        db.session.rollback()
        return render_settings(
            422,
            alerts_problem=gettext(
                "The change guard needs a percentage from 1 to 100 and a count of at least 1."
            ),
        )
    return _back("guard-saved")


@bp.post("/holds/<public_id>/<any(approve, reject):decision>")
@require_launch
@requires(Need.ACT)
def decide(public_id: str, decision: str) -> Any:
    """Approve or reject a held sync of this institution; the first decision wins."""
    job = reading.get_job(g.launch.tenant_id, public_id)
    if job is None or job.approval is None:
        abort(404)
    outcome = approvals.decide(
        job,
        decision == "approve",
        g.launch.user_name,
        on_decided=lambda: activity.record(job.tenant_id, f"hold.{decision}d", subject=public_id),
    )
    if outcome.decided:
        return back_to("index", "hold-" + decision + "d")
    return render_tab(409, decided_already=outcome.approval)
