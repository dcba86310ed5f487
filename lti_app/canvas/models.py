"""What the tool keeps to read an institution's Canvas: API developer keys and connections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, false
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
    # The token lacks the scope of the SIS Import Errors API (a connection made before the
    # tool asked for it): imports are still mirrored, their error rows wait for a reconnect.
    errors_scope_missing: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

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


class ReadPhase:
    """How far the read of an import's error rows has got."""

    FAILURES = "failures"  # reading the rows that failed the import (``failure=true``)
    ALL = "all"  # reading every row; those not among the failures are warnings
    DONE = "done"  # every row is stored
    KEPT = "kept"  # Canvas no longer had the rows (30 days): the import's own list stays


class ErrorRead(db.Model):
    """The read of one finished import's rows from Canvas's SIS Import Errors API: where it
    stands, so that a read cut short (a pass's page limit, a dead worker) goes on from the
    page where it stopped. The rows themselves are the job's messages."""

    __tablename__ = "canvas_error_read"
    __table_args__ = (Index("ix_canvas_error_read_tenant_phase", "tenant_id", "phase"),)

    job_id: Mapped[int] = mapped_column(
        ForeignKey("rostering_job.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    import_id: Mapped[int] = mapped_column(BigInteger)
    phase: Mapped[str] = mapped_column(String(16), default=ReadPhase.FAILURES)
    # Canvas's ``Link: rel="next"`` of the last page stored; none: the phase's first page.
    next_url: Mapped[str | None] = mapped_column(Text)
    stored: Mapped[int] = mapped_column(Integer, default=0)  # rows stored: the next position
    failures: Mapped[int] = mapped_column(Integer, default=0)  # rows of the failure list
    matched: Mapped[int] = mapped_column(Integer, default=0)  # failures met again in the rest
    pages: Mapped[int] = mapped_column(Integer, default=0)
    # The import counts warnings (or does not say): the whole list is read after the failures.
    warnings_expected: Mapped[bool] = mapped_column(Boolean, default=True)
    # The job's final status is news the alerts have not heard yet: told when the read ends,
    # so they count every row.
    announce: Mapped[bool] = mapped_column(Boolean, default=False)
    # When Canvas finished the import: its rows are kept 30 days from then.
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The rows counted by file once all are in ([file, errors, warnings], ...): the Details
    # window shows them without counting 50,000 rows each time it opens.
    by_file: Mapped[list[list[Any]] | None] = mapped_column(JSON)

    @property
    def reading(self) -> bool:
        return self.phase in (ReadPhase.FAILURES, ReadPhase.ALL)
