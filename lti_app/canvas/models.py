"""What the tool keeps to read an institution's Canvas: API developer keys and connections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import UTCDateTime, db
from ..lti.models import Tenant
from ..timeutil import utcnow


class CanvasApiKey(db.Model):
    """A Canvas API developer key (OAuth2 client) registered by an operator for one Canvas."""

    __tablename__ = "canvas_api_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    base_url: Mapped[str] = mapped_column(String(1024), unique=True)
    client_id: Mapped[str] = mapped_column(String(255))
    client_secret_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConnectionState:
    """Whether a connection can be polled."""

    ACTIVE = "active"
    NEEDS_RECONNECTING = "needs_reconnecting"


class CanvasConnection(db.Model):
    """One institution's connection to its Canvas: a user token, and the mirror's progress.

    Tokens are stored encrypted (``crypto.py``). Workers share connections through the lease:
    one worker polls an institution at a time, and a lease left by a dead worker expires.
    """

    __tablename__ = "canvas_connection"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), unique=True)
    base_url: Mapped[str] = mapped_column(String(1024))
    account_id: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))  # oauth | token
    access_token_encrypted: Mapped[str] = mapped_column(Text)
    refresh_token_encrypted: Mapped[str | None] = mapped_column(Text)
    token_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    connected_by: Mapped[str] = mapped_column(String(255))
    connected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(32), default=ConnectionState.ACTIVE)
    # A plain sentence for admins when Canvas refused (sub-account, SIS disabled, token).
    problem: Mapped[str] = mapped_column(Text, default="", server_default="")

    # The mirror's place. The first poll walks the history from the newest import back;
    # ``backfill_before`` is how far back it got, so an interruption resumes there.
    backfill_done: Mapped[bool] = mapped_column(Boolean, default=False)
    backfill_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    newest_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    last_poll_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_outcome: Mapped[str] = mapped_column(String(255), default="", server_default="")
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tenant: Mapped[Tenant] = relationship()

    @property
    def needs_reconnecting(self) -> bool:
        return self.state == ConnectionState.NEEDS_RECONNECTING
