"""The SIS agent API's bearer tokens."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, UTCDateTime
from ..lti.models import Tenant
from ..timeutil import utcnow


class ApiToken(Model):
    """A bearer token of one tenant's SIS agent. Only its SHA-256 hash is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so an admin can tell tokens apart without seeing them.
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who made it: an admin's name, or "operator (command line)".
    created_by: Mapped[str] = mapped_column(String(255), default="", server_default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When it was last presented, to the minute: written at most once a minute, never on
    # every request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tenant: Mapped[Tenant] = relationship()
