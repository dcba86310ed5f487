"""From a job's event to a message that arrived. Nothing is lost on the way:

1. The job store writes a ``JobEvent`` in the transaction of the change.
2. One worker at a time (a lease) turns events into ``AlertDelivery`` rows, in the order they
   happened, deciding who is told: the recipients who chose the event, the failure-streak rule
   (the first failure, then at most once a day per recipient while failures go on, then
   ``sync.recovered``), the guard's large-deletion check. The event goes in the same
   transaction as its deliveries.
3. Any worker leases due deliveries and sends them: at least once, with the same id on every
   try, retried with backoff (and the receiver's Retry-After) for ALERT_RETRY_HOURS; a
   permanent refusal stops at once and shows beside the recipient.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
from collections.abc import Callable, Generator
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, url_for
from flask_mail import Message
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from .. import counters, crypto, leases
from ..extensions import db, delete_in_batches, rowcount
from ..lti.models import Tenant
from ..rostering import sync
from ..rostering.models import (
    BLACKOUT,
    HELD,
    RESTORED,
    STUCK,
    ApprovalState,
    JobEvent,
    JobStatus,
    RosteringJob,
)
from ..timeutil import as_utc, utcnow
from . import channels, content, guard
from .models import (
    AlertDelivery,
    AlertRecipient,
    AlertSettings,
    Channel,
    DeliveryState,
    Event,
    WorkerLease,
)

log = logging.getLogger(__name__)
FAN_OUT = "alerts.fan_out"
BATCH = 50
KEEP_DELIVERIES_DAYS = 90  # a delivery that ended is kept this long, then forgotten
STREAK_QUIET = timedelta(days=1)


# -- leases ---------------------------------------------------------------------------------


def take_lease(name: str, owner: str, seconds: float, *, renew: bool = True) -> bool:
    """Hold the named task for ``seconds`` (renewing it if ``owner`` holds it already, unless
    not ``renew``: then a daily task is taken once a day, whoever took it last); False when
    another worker holds it. Commits."""
    now = utcnow()
    until = now + timedelta(seconds=seconds)
    free = WorkerLease.expires_at < now
    result = db.session.execute(
        update(WorkerLease)
        .where(WorkerLease.name == name, or_(WorkerLease.owner == owner, free) if renew else free)
        .values(owner=owner, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) == 1:
        db.session.commit()
        return True
    db.session.add(WorkerLease(name=name, owner=owner, expires_at=until))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return False
    return True


def release_lease(name: str, owner: str) -> None:
    """Give up the named task now, if ``owner`` holds it (commits): another worker, or this
    one, may take it at once."""
    db.session.execute(
        update(WorkerLease)
        .where(WorkerLease.name == name, WorkerLease.owner == owner)
        .values(expires_at=utcnow() - timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def release_all(owner: str, *, keep: tuple[str, ...] = ()) -> int:
    """Give back everything ``owner`` holds of the alerts: its tasks (but ``keep``) and its
    leased deliveries (a clean stop). Commits; how many."""
    tasks = db.session.execute(
        update(WorkerLease)
        .where(WorkerLease.owner == owner, WorkerLease.name.not_in(keep))
        .values(expires_at=utcnow() - timedelta(seconds=1))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return rowcount(tasks) + leases.release_all(AlertDelivery, owner)


# -- fan-out: events become deliveries --------------------------------------------------------


def new_delivery_id() -> str:
    """A delivery's id, the same on every try: the email's Message-ID, the webhook-id."""
    return "msg_" + secrets.token_hex(16)


def fan_out(owner: str, limit: int = 500) -> int:
    """Turn up to ``limit`` job events into deliveries, oldest first; returns how many
    events were handled (0 when another worker is doing it)."""
    if not take_lease(FAN_OUT, owner, current_app.config["ALERT_FAN_OUT_LEASE_SECONDS"]):
        return 0
    events = db.session.scalars(
        select(JobEvent)
        .options(
            joinedload(JobEvent.job).options(
                joinedload(RosteringJob.tenant),
                selectinload(RosteringJob.files),
                joinedload(RosteringJob.approval),
            )
        )
        .order_by(JobEvent.id)
        .limit(limit)
    ).all()
    recipients: dict[int, list[AlertRecipient]] = {}
    for event in events:
        tenant_id = event.tenant_id
        if tenant_id not in recipients:
            recipients[tenant_id] = list(
                db.session.scalars(
                    select(AlertRecipient).where(AlertRecipient.tenant_id == tenant_id)
                )
            )
        _decide(event, [r for r in recipients[tenant_id] if r.created_at <= event.created_at])
        db.session.delete(event)
    db.session.commit()
    return len(events)


def _decide(event: JobEvent, recipients: list[AlertRecipient]) -> None:
    """Who is told what about one event."""
    job = event.job
    if job is None:  # the institution's own news: its settings changed, a blackout near
        tenant = db.session.get(Tenant, event.tenant_id)
        assert tenant is not None
        kind = Event.BLACKOUT if event.kind == BLACKOUT else Event.SETTINGS
        facts = content.news_payload(tenant, _timezone(tenant.id), kind, event.facts or {})
        for recipient in recipients:
            if recipient.wants(kind):
                _add(recipient, kind, facts)
        return
    settings = guard.settings_row(job.tenant_id)
    sends: list[tuple[Event, dict[str, Any]]] = []
    approval = job.approval
    if event.kind == HELD:
        if approval is not None:
            sends.append((Event.HELD, {"reasons": approval.reasons, "planned": approval.planned}))
    elif event.kind == RESTORED:
        sends.append((Event.RESTORED, {"restore": event.facts or {}}))
    elif event.kind == STUCK:
        sends.append((Event.STUCK, {"stuck": event.facts or {}}))
    else:
        sends += _streak(settings, event.kind, job)
        held_and_approved = approval is not None and approval.state == ApprovalState.APPROVED
        thresholds = guard.Thresholds.of(settings)
        reasons = (
            []
            if held_and_approved
            else guard.anomaly(
                job.change_counts, approval.planned if approval else None, thresholds
            )
        )
        if reasons:
            job.large_deletion = True
        deleted = sum(int(c.get("deleted") or 0) for c in (job.change_counts or {}).values())
        if deleted and guard.additions_only(settings, as_utc(job.updated_at)):
            # Nothing was to be deleted then: the import ran without skip_deletes.
            job.deleted_in_additions_only = True
            reasons = [*reasons, f"deleted {deleted:,} objects during additions only"]
        if reasons:
            sends.append((Event.ANOMALY, {"reasons": reasons}))
    if not recipients or not sends:
        return
    facts = content.payload(job, _timezone(job.tenant_id))
    for kind, extra in sends:
        for recipient in recipients:
            if not recipient.wants(kind):
                continue
            if kind is Event.FAILED and extra["streak"]["count"] > 1 and _told_lately(recipient):
                continue
            _add(recipient, kind, {**facts, **extra})


def _streak(settings: AlertSettings, status: str, job: RosteringJob) -> list[tuple[Event, dict]]:
    """Keep the failure streak; what the job's final status says to whom."""
    sends: list[tuple[Event, dict[str, Any]]] = []
    if status == JobStatus.FAILED:
        if not settings.failed_streak:
            settings.failed_since = job.updated_at
        settings.failed_streak = (settings.failed_streak or 0) + 1
        streak = {"count": settings.failed_streak, "since": _iso(settings.failed_since)}
        sends.append((Event.FAILED, {"streak": streak}))
        return sends
    if settings.failed_streak:
        ended = {"count": settings.failed_streak, "since": _iso(settings.failed_since)}
        sends.append((Event.RECOVERED, {"streak": ended}))
        settings.failed_streak, settings.failed_since = 0, None
    if status == JobStatus.WARNING:
        sends.append((Event.WARNING, {}))
    return sends


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


def _told_lately(recipient: AlertRecipient) -> bool:
    """Whether the recipient heard of a failure in the last day (the streak rule)."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    AlertDelivery.recipient_id == recipient.id,
                    AlertDelivery.event == Event.FAILED.value,
                    AlertDelivery.created_at > utcnow() - STREAK_QUIET,
                )
            )
        )
    )


def _timezone(tenant_id: int) -> str:
    """The institution's schedule's time zone (alerts show times in it), else UTC."""
    schedule = sync.get_schedule(tenant_id)
    return schedule.timezone if schedule is not None else "UTC"


def _add(recipient: AlertRecipient, kind: Event, facts: dict[str, Any]) -> AlertDelivery:
    delivery = AlertDelivery(
        public_id=new_delivery_id(),
        tenant_id=recipient.tenant_id,
        recipient=recipient,
        event=kind.value,
        payload=facts,
        state=DeliveryState.PENDING.value,
        attempts=0,
        next_attempt_at=utcnow(),
        created_at=utcnow(),
    )
    db.session.add(delivery)
    return delivery


def queue_test(recipient: AlertRecipient, owner: str | None = None) -> AlertDelivery:
    """A test alert for one recipient, written before it is sent (commits). With ``owner``,
    leased to it at once: the caller sends it now, the workers only if that fails."""
    tenant = db.session.get(Tenant, recipient.tenant_id)
    assert tenant is not None
    delivery = _add(recipient, Event.TEST, content.test_payload(tenant, _timezone(tenant.id)))
    if owner is not None:
        delivery.lease_owner = owner
        delivery.lease_expires_at = utcnow() + timedelta(seconds=_lease_seconds())
    db.session.commit()
    return delivery


# -- delivery -------------------------------------------------------------------------------


def _lease_seconds() -> int:
    return current_app.config["ALERT_LEASE_SECONDS"]


def claim(owner: str, limit: int = BATCH) -> list[AlertDelivery]:
    """Lease up to ``limit`` due deliveries to ``owner``, soonest first (``leases.take``: the
    ones ``owner`` holds already count as free, so a round whose outcomes could not be recorded
    sends them again at once, with the same ids)."""
    ids = leases.take(
        AlertDelivery,
        owner,
        AlertDelivery.state == DeliveryState.PENDING.value,
        AlertDelivery.next_attempt_at <= utcnow(),
        order_by=(AlertDelivery.next_attempt_at, AlertDelivery.id),
        limit=limit,
        seconds=_lease_seconds(),
    )
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(AlertDelivery)
            .where(AlertDelivery.id.in_(ids), AlertDelivery.lease_owner == owner)
            .options(joinedload(AlertDelivery.recipient), joinedload(AlertDelivery.tenant))
            .order_by(AlertDelivery.next_attempt_at, AlertDelivery.id)
        )
    )


def send(deliveries: list[AlertDelivery]) -> dict[str, int]:
    """Send leased deliveries: the emails over one SMTP connection, then each webhook.
    Returns how many were delivered, will be retried, and failed for good."""
    tally = {"delivered": 0, "retrying": 0, "failed": 0}
    emails = [d for d in deliveries if d.recipient.channel == Channel.EMAIL]
    hooks = [d for d in deliveries if d.recipient.channel != Channel.EMAIL]
    if emails:
        if not current_app.config.get("MAIL_SERVER"):
            unset = channels.Outcome(False, error="email is not set up")
            outcomes: Generator[channels.Outcome, None, None] = (unset for _ in emails)
        else:
            outcomes = channels.send_emails(_message(d) for d in emails)
        # Closed at once if recording an outcome fails: the SMTP connection ends with the round.
        with contextlib.closing(outcomes) as each:
            for delivery, outcome in zip(emails, each, strict=True):
                tally[_record(delivery, outcome)] += 1
    for delivery in hooks:
        tally[_record(delivery, _post(delivery))] += 1
    return tally


def deliver_due(owner: str, limit: int = BATCH) -> dict[str, int]:
    """One batch: lease what is due and send it."""
    return send(claim(owner, limit))


def _unsubscribe_url(recipient: AlertRecipient) -> str:
    token = unsubscribe_token(recipient)
    public = current_app.config["PUBLIC_URL"].rstrip("/")
    with current_app.test_request_context(base_url=public or None):
        return url_for("alerts.unsubscribe", token=token, _external=True)


def unsubscribe_token(recipient: AlertRecipient) -> str:
    """The signed part of an email's unsubscribe link: this address, this institution."""
    return _unsubscribe_signer().dumps([recipient.tenant_id, recipient.email])


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """The institution and address an unsubscribe link names; None when it was altered."""
    try:
        tenant_id, address = _unsubscribe_signer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    return int(tenant_id), str(address)


def _unsubscribe_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="sis-integration.unsubscribe")


def _message(delivery: AlertDelivery) -> Message:
    recipient = delivery.recipient
    unsubscribe = _unsubscribe_url(recipient)
    subject, text, html = content.email(
        Event(delivery.event), delivery.payload, recipient.locale, unsubscribe
    )
    message = Message(
        subject=subject,
        recipients=[recipient.email or ""],
        body=text,
        html=html,
        sender=current_app.config["MAIL_DEFAULT_SENDER"],
        extra_headers={
            # RFC 8058: mail programs offer one-click unsubscribe with these two.
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
        },
    )
    domain = current_app.config["MAIL_MESSAGE_ID_DOMAIN"]
    message.msgId = f"<{delivery.public_id}@{domain}>"
    return message


_BODIES: dict[str, Callable[[Event, dict[str, Any], str], dict[str, Any]]] = {
    Channel.SLACK: content.slack,
    Channel.TEAMS: content.teams,
}


def _post(delivery: AlertDelivery) -> channels.Outcome:
    recipient = delivery.recipient
    event = Event(delivery.event)
    timestamp = utcnow()
    secret = None
    if recipient.channel == Channel.JSON:
        body = content.webhook_json(event.value, delivery.payload, timestamp)
        secret = crypto.decrypt(recipient.secret_encrypted or "")
    else:
        body = _BODIES[recipient.channel](event, delivery.payload, recipient.locale)
    try:
        url = crypto.decrypt(recipient.url_encrypted or "")
    except crypto.SecretUnreadable:
        return channels.Outcome(False, permanent=True, error="the stored URL cannot be decrypted")
    return channels.post_webhook(
        url, body, message_id=delivery.public_id, timestamp=timestamp, secret=secret
    )


def _backoff(attempts: int) -> float:
    base = current_app.config["ALERT_BACKOFF_SECONDS"]
    wait = min(base * 2 ** min(max(attempts - 1, 0), 20), 3600.0)
    return wait * random.uniform(0.8, 1.2)  # noqa: S311 (jitter, not a secret)


def _record(delivery: AlertDelivery, outcome: channels.Outcome) -> str:
    """Keep how a try went, on the delivery and beside its recipient. Commits."""
    now = utcnow()
    delivery.attempts += 1
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    recipient = delivery.recipient
    recipient.last_attempt_at = now
    if outcome.delivered:
        delivery.state = DeliveryState.DELIVERED.value
        delivery.delivered_at = now
        delivery.last_error = ""
        recipient.last_outcome, recipient.last_ok = "delivered", True
        result = "delivered"
    else:
        delivery.last_error = outcome.error
        give_up = now - as_utc(delivery.created_at) >= timedelta(
            hours=current_app.config["ALERT_RETRY_HOURS"]
        )
        if outcome.permanent or give_up:
            delivery.state = DeliveryState.FAILED.value
            recipient.last_outcome = f"failed: {outcome.error}"[:500]
            result = "failed"
        else:
            wait = outcome.retry_after
            delivery.next_attempt_at = now + timedelta(
                seconds=wait if wait is not None else _backoff(delivery.attempts)
            )
            recipient.last_outcome = f"retrying: {outcome.error}"[:500]
            result = "retrying"
        recipient.last_ok = False
    db.session.commit()
    counters.ALERT_DELIVERIES.labels(recipient.channel, result).inc()
    log.info(
        "alert %s (%s) to recipient %s: %s %s",
        delivery.public_id,
        delivery.event,
        recipient.id,
        result,
        outcome.error,
    )
    return result


def prune(days: int = KEEP_DELIVERIES_DAYS, batch: int = 1000) -> int:
    """Forget deliveries that ended (delivered, or failed for good) more than ``days`` ago,
    a batch a transaction: each recipient's last outcome stays on the recipient."""
    return delete_in_batches(
        AlertDelivery,
        AlertDelivery.state.in_((DeliveryState.DELIVERED, DeliveryState.FAILED)),
        AlertDelivery.created_at < utcnow() - timedelta(days=days),
        batch=batch,
    )
