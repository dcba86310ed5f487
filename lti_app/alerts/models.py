"""What the alerts keep: who is told (recipients), what is owed to each (deliveries, the
outbox), and each institution's change guard and failure streak."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, UTCDateTime
from ..lti.models import Tenant
from ..timeutil import utcnow


class Event(enum.StrEnum):
    """What an alert is about; recipients choose among them (the short names)."""

    FAILED = "sync.failed"
    WARNING = "sync.warning"
    HELD = "sync.held"
    ANOMALY = "sync.anomaly"
    RECOVERED = "sync.recovered"
    RESTORED = "sync.restored"
    STUCK = "sync.stuck"
    SETTINGS = "settings.changed"
    BLACKOUT = "schedule.blackout"
    TEST = "alert.test"  # "Send a test": always sent

    @property
    def short(self) -> str:
        return self.value.split(".", 1)[1]


SUBSCRIBABLE = [e for e in Event if e is not Event.TEST]
EVENT_NAMES = [e.short for e in SUBSCRIBABLE]


class Channel(enum.StrEnum):
    """How a recipient is told: by email, or a webhook in one of three formats."""

    EMAIL = "email"
    JSON = "json"  # Standard Webhooks, signed
    SLACK = "slack"
    TEAMS = "teams"


class DeliveryState(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # refused for good, or still failing after ALERT_RETRY_HOURS


class AlertRecipient(Model):
    """An address or webhook that hears of one institution's syncs. Webhook URLs and secrets
    are stored encrypted (``lti_app.crypto``) and shown only masked."""

    __tablename__ = "alert_recipient"
    __table_args__ = (UniqueConstraint("tenant_id", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # a Channel
    email: Mapped[str | None] = mapped_column(String(320))
    url_encrypted: Mapped[str | None] = mapped_column(Text)
    url_hint: Mapped[str] = mapped_column(String(255), default="")  # the URL, masked
    secret_encrypted: Mapped[str | None] = mapped_column(Text)  # a json webhook's whsec_…
    # A hash of the address or URL: the same one twice for an institution is refused.
    digest: Mapped[str] = mapped_column(String(64))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)  # short names
    # The language of the admin who added it: its emails are in that language.
    locale: Mapped[str] = mapped_column(String(16), default="en")
    added_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_outcome: Mapped[str] = mapped_column(String(500), default="")
    last_ok: Mapped[bool | None] = mapped_column(Boolean)

    tenant: Mapped[Tenant] = relationship()

    @property
    def is_email(self) -> bool:
        return self.channel == Channel.EMAIL

    @property
    def shown(self) -> str:
        """The address, or the webhook's masked URL."""
        return self.email or self.url_hint

    def wants(self, event: Event) -> bool:
        return event is Event.TEST or event.short in self.events


class AlertDelivery(Model):
    """One alert owed to one recipient: written before anything is sent, sent at least once
    by a worker holding its lease, retried with backoff. ``public_id`` is the same on every
    try (the email's Message-ID, the webhook's webhook-id), so a receiver recognises a retry."""

    __tablename__ = "alert_delivery"
    __table_args__ = (
        # The workers' queue: what is due, soonest first.
        Index("ix_alert_delivery_state_due", "state", "next_attempt_at"),
        # The streak rule: this recipient's last failure alert.
        Index("ix_alert_delivery_recipient_event", "recipient_id", "event", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("alert_recipient.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))  # an Event
    # Everything the message says, fixed when the alert was raised (a retry says the same).
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    recipient: Mapped[AlertRecipient] = relationship()
    tenant: Mapped[Tenant] = relationship()


class AlertSettings(Model):
    """An institution's change guard (on by default) and the streak of failed syncs that the
    alerts are in the middle of. No row: the defaults, and no streak."""

    __tablename__ = "alert_settings"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    guard_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    guard_percent: Mapped[int] = mapped_column(Integer, default=10)
    guard_count: Mapped[int] = mapped_column(Integer, default=1000)
    guard_updated_by: Mapped[str] = mapped_column(String(255), default="")
    guard_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_streak: Mapped[int] = mapped_column(Integer, default=0)
    failed_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A sync In Progress with no change for this long is stuck (none: STUCK_AFTER_MINUTES).
    stuck_after_minutes: Mapped[int | None] = mapped_column(Integer)
    # A one-time allowance: a larger line until ``allow_until`` or for ``allow_syncs_left``
    # more syncs (whichever ends first), for a reason; none when ``allow_percent`` is null.
    allow_percent: Mapped[int | None] = mapped_column(Integer)
    allow_count: Mapped[int | None] = mapped_column(Integer)
    allow_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    allow_syncs_left: Mapped[int | None] = mapped_column(Integer)
    allow_reason: Mapped[str] = mapped_column(String(255), default="", server_default="")
    allow_by: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # Additions only: deletions in the files are skipped (Canvas's skip_deletes) from
    # ``additions_from`` to ``additions_to`` (inclusive, in the institution's zone), kept also
    # as the UTC instants they span.
    additions_from: Mapped[date | None] = mapped_column(Date)
    additions_to: Mapped[date | None] = mapped_column(Date)
    additions_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    additions_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkerLease(Model):
    """A task only one worker may do at a time (turning events into deliveries, in order)."""

    __tablename__ = "worker_lease"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
