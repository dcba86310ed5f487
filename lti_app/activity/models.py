"""The activity trail: one row per change to an institution's data or settings, or refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import Model, UTCDateTime
from ..timeutil import utcnow


class ActorKind:
    """Who acted: an admin in the tab, an SIS agent's token, or the operator's command line."""

    PERSON = "person"
    TOKEN = "token"  # noqa: S105 (a kind of actor, not a secret)
    OPERATOR = "operator"


class Activity(Model):
    """Who did what, when, to which institution. Written in the transaction of the change; no
    code path updates a row, and only the retention purge deletes (ACTIVITY_KEEP_DAYS)."""

    __tablename__ = "activity"
    __table_args__ = (Index("ix_activity_tenant_at", "tenant_id", "at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_kind: Mapped[str] = mapped_column(String(16))  # an ActorKind
    # The admin's name (the real user's Canvas id when acting as someone else), the token's
    # name, or "operator (command line)"; and the Canvas user id or token id.
    actor: Mapped[str] = mapped_column(String(255))
    actor_id: Mapped[str] = mapped_column(String(255), default="", server_default="")
    # When an admin acts as someone else in Canvas: whom (the launch's user).
    acting_as: Mapped[str] = mapped_column(String(255), default="", server_default="")
    action: Mapped[str] = mapped_column(String(64))  # sync.requested, guard.changed, denied…
    # The action tried, for a refusal ("denied").
    tried: Mapped[str] = mapped_column(String(64), default="", server_default="")
    subject: Mapped[str] = mapped_column(String(255), default="", server_default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    request_id: Mapped[str] = mapped_column(String(64), default="", server_default="")
