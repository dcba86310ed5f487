"""What the tool keeps to read and act on an institution's Canvas: API developer keys,
connections, and the undo and stop actions admins ask for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, UTCDateTime
from ..lti.models import Tenant
from ..timeutil import utcnow


class CanvasApiKey(Model):
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


class CanvasConnection(Model):
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
    # The token lacks the scopes of undo and stop (restore_states, abort, progress): made
    # before the tool asked for them. Mirroring goes on; the tab asks for a reconnect.
    actions_scope_missing: Mapped[bool] = mapped_column(
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


class ErrorRead(Model):
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


class ActionKind:
    """What an admin asked Canvas to do to its SIS imports."""

    RESTORE = "restore"  # PUT …/sis_imports/:id/restore_states (undo)
    ABORT = "abort"  # PUT …/sis_imports/:id/abort (stop)
    ABORT_PENDING = "abort_pending"  # PUT …/sis_imports/abort_all_pending (stop the queue)


class ActionState:
    """Where an action stands: written as ``pending`` by the admin's POST; the worker sends it
    (``sending`` is written before the PUT, so a worker that died after it follows the import
    rather than sending twice), follows Canvas's Progress (``following``), and ends it."""

    PENDING = "pending"
    SENDING = "sending"
    FOLLOWING = "following"
    DONE = "done"
    FAILED = "failed"

    ACTIVE = (PENDING, SENDING, FOLLOWING)


class CanvasAction(Model):
    """An admin's request that Canvas undo or stop an import: the outbox row the worker acts
    on, and afterwards the record of who asked, what Canvas said and what it restored.

    ``active_key`` is set while the action is active (``import:<id>``, or ``queue`` for the
    account's queued imports) and unique per institution: one action at a time per import.
    """

    __tablename__ = "canvas_action"
    __table_args__ = (
        UniqueConstraint("tenant_id", "active_key", name="uq_canvas_action_active"),
        Index("ix_canvas_action_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("rostering_job.id", ondelete="CASCADE"), index=True
    )
    import_id: Mapped[int | None] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # an ActionKind
    # A restore's choice: everything, deleted (undelete_only), concluded (unconclude_only).
    mode: Mapped[str] = mapped_column(String(16), default="", server_default="")
    batch_mode: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_by_user_id: Mapped[str] = mapped_column(String(255), default="")
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default=ActionState.PENDING)
    active_key: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Canvas's Progress of a restore: its id, and how far it got (0–100).
    progress_id: Mapped[int | None] = mapped_column(BigInteger)
    completion: Mapped[float | None] = mapped_column(Float)
    # The outcome in plain words (a sentence of the tool's, translated when shown, and the
    # values it names: Canvas's refusal, who connected), and Canvas's ``restored`` counts by
    # object kind once a restore ended.
    outcome: Mapped[str] = mapped_column(Text, default="", server_default="")
    outcome_values: Mapped[dict[str, str] | None] = mapped_column(JSON)
    restored: Mapped[dict[str, int] | None] = mapped_column(JSON)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def active(self) -> bool:
        return self.state in ActionState.ACTIVE
