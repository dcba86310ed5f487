"""The job store: rostering jobs, their files and messages, and each tenant's sync schedule."""

from __future__ import annotations

import enum
import secrets
import time
from datetime import date, datetime, timedelta

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import Model, UTCDateTime
from ..i18n import N_
from ..lti.models import Tenant
from ..timeutil import utcnow

SCHEDULED_POSTER = N_("Canvas Integrations Admin")


class JobStatus(enum.StrEnum):
    """A rostering job's sync status, as the Canvas guide names them."""

    COMPLETED = "completed"
    WARNING = "warning"
    FAILED = "failed"
    IN_PROGRESS = "in_progress"

    @property
    def label(self) -> str:
        """The English word (the CSV's, and the catalogs' id for the page's word)."""
        return {
            "completed": N_("Completed"),
            "warning": N_("Warning"),
            "failed": N_("Failed"),
            "in_progress": N_("In Progress"),
        }[self.value]

    @property
    def is_final(self) -> bool:
        return self is not JobStatus.IN_PROGRESS


class SyncRequestStatus(enum.StrEnum):
    """An admin's "Sync now" waits as pending until an SIS agent claims it."""

    PENDING = "pending"
    CLAIMED = "claimed"


STATUS_LABELS = {status.value: status.label for status in JobStatus}


class Trigger(enum.StrEnum):
    """How a sync started: on the schedule, or at an admin's request."""

    SCHEDULED = "scheduled"
    MANUAL = "manual"


# The stages a sync passes through, in order.
CANVAS_IMPORT = N_("Canvas Import")
STAGES = (N_("Queued"), N_("Roster Extract"), N_("Data Conversion"), CANVAS_IMPORT)
# The stage of a sync the change guard holds until an admin decides.
AWAITING_APPROVAL = N_("Awaiting approval")
# The stage of a Canvas import while Canvas undoes it ("Restoring (45%)").
RESTORING = N_("Restoring")
# The job types the tool itself names: an agent's sync, and a mirrored Canvas SIS import.
SIS_IMPORT = N_("SIS Import")
TYPES = (N_("Roster Import"), SIS_IMPORT)


def new_public_id() -> str:
    """A job's public id: 32 hex digits, a millisecond clock then 80 random bits (like a
    UUIDv7), so it can't be guessed and new ids land at the end of the unique index instead
    of all over it."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.token_hex(10)}"


class RosteringJob(Model):
    """One rostering sync (a Roster Import) of one tenant."""

    __tablename__ = "rostering_job"
    __table_args__ = (
        UniqueConstraint("tenant_id", "external_id"),
        # One job per Canvas SIS import: mirrored on its own, or absorbed by the agent's job.
        UniqueConstraint(
            "tenant_id", "canvas_sis_import_id", name="uq_rostering_job_canvas_sis_import"
        ),
        # The Rostering Jobs list: a tenant's jobs, newest update first, id breaking ties.
        Index("ix_rostering_job_tenant_updated", "tenant_id", "updated_at", "id"),
        # "A sync is in progress", "the last successful sync", a status filter: found
        # without walking the history.
        # (No index for the Manual / Scheduled filter: it walks the list's own index, one
        # sync in a few is manual, and PostgreSQL chose such an index over this one for the
        # In Progress check, reading the whole history.)
        Index("ix_rostering_job_tenant_status_updated", "tenant_id", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64), default="Roster Import")
    posted_by: Mapped[str] = mapped_column(String(255))
    trigger: Mapped[str] = mapped_column(String(16))  # a Trigger
    sis_type: Mapped[str] = mapped_column(String(255))
    stage: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))  # a JobStatus
    # {"users": {"created": 3, "updated": 1, "deleted": 0}, ...}
    change_counts: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict)
    # [{"stage": "Queued", "at": "2026-11-26T02:00:00+00:00"}, ...]
    stage_history: Mapped[list[dict[str, str]]] = mapped_column(JSON, default=list)
    # A hash of the body that created the job: the same create again is a harmless retry.
    request_fingerprint: Mapped[str] = mapped_column(String(64), default="")
    sync_request_id: Mapped[int | None] = mapped_column(
        ForeignKey("sync_request.id", ondelete="SET NULL")
    )
    # The Canvas SIS import this sync ended in, when known (mirrored, or named by the agent).
    canvas_sis_import_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The job's line of the CSV download, kept current on every write (export.py).
    csv_line: Mapped[str] = mapped_column(Text, default="", server_default="")
    # It deleted more than the change guard allows (alerts/guard.py): "Large deletion".
    large_deletion: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # When the alerts were told the job made no progress for the institution's stuck time
    # (once per job): set by the worker's housekeeping, never again for the same job.
    stuck_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # It deleted objects while the institution's "additions only" was on (an anomaly).
    deleted_in_additions_only: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    tenant: Mapped[Tenant] = relationship()
    files: Mapped[list[JobFile]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="JobFile.id", lazy="select"
    )
    messages: Mapped[list[JobMessage]] = relationship(
        back_populates="job", cascade="all, delete-orphan", order_by="JobMessage.id"
    )
    approval: Mapped[JobApproval | None] = relationship(
        back_populates="job", cascade="all, delete-orphan", lazy="select"
    )

    @property
    def status_enum(self) -> JobStatus:
        return JobStatus(self.status)

    @property
    def status_label(self) -> str:
        # A plain lookup: templates ask for it on every row, and enum members are slow to read.
        return STATUS_LABELS[self.status]

    def change_rows(self) -> list[tuple[str, dict[str, int]]]:
        """The change details table: one row per object type, in a stable order."""
        return sorted(self.change_counts.items())

    @property
    def reports_rows_processed(self) -> bool:
        """Whether the change details hold rows processed per file (a Canvas import reports
        them beside its statistics)."""
        return any("processed" in counts for counts in self.change_counts.values())


class JobFile(Model):
    """A JSON document attached to a job (the Canvas import JSON), kept verbatim."""

    __tablename__ = "rostering_job_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(
        ForeignKey("rostering_job.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    job: Mapped[RosteringJob] = relationship(back_populates="files")


class JobMessage(Model):
    """An error or warning a sync reported, pointing at the file and row it came from."""

    __tablename__ = "rostering_job_message"
    __table_args__ = (
        # A job's messages a page at a time, in the order they were stored (keyset on id).
        Index("ix_rostering_job_message_job_id_id", "job_id", "id"),
        # A row read from Canvas's list of an import's errors is stored once, however often
        # the read is interrupted: its place in that list is its key.
        UniqueConstraint("job_id", "position", name="uq_rostering_job_message_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("rostering_job.id", ondelete="CASCADE"))
    severity: Mapped[str] = mapped_column(String(16))  # error | warning
    # Who reported it: the SIS agent, or Canvas (an import's processing errors and warnings).
    source: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    file: Mapped[str] = mapped_column(String(255), default="")
    row: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    # The row's own text, as Canvas quotes it (``row_info``), when it does.
    row_info: Mapped[str | None] = mapped_column(Text)
    # The row's place among every row Canvas listed for the import (none for the agent's
    # messages, nor for the few an import's own JSON carries).
    position: Mapped[int | None] = mapped_column(Integer)

    job: Mapped[RosteringJob] = relationship(back_populates="messages")


class SyncBlackout(Model):
    """Days no sync should run (a term's edge, a break): from ``starts_on`` to ``ends_on``,
    both inclusive, in ``timezone`` (the institution's), kept also as the UTC instants they
    span (``starts_at`` to ``ends_at``, the end exclusive) for comparing with now."""

    __tablename__ = "sync_blackout"
    __table_args__ = (Index("ix_sync_blackout_tenant_ends", "tenant_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    timezone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the alerts were told it starts tomorrow, and that it ended (once each).
    told_start_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    told_end_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SyncSchedule(Model):
    """A tenant's sync automation schedule. The next run is derived, never stored."""

    __tablename__ = "sync_schedule"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), unique=True)
    type: Mapped[str] = mapped_column(String(64), default="Roster Import")
    # daily | hourly | weekly
    frequency: Mapped[str] = mapped_column(String(16))
    every_hours: Mapped[int | None] = mapped_column(Integer)
    # "HH:MM" in the schedule's time zone, for daily and weekly schedules
    time_of_day: Mapped[str | None] = mapped_column(String(5))
    # ISO weekday numbers, 1 = Monday, for weekly schedules
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)
    first_run: Mapped[datetime] = mapped_column(UTCDateTime)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    posted_by: Mapped[str] = mapped_column(String(255), default=SCHEDULED_POSTER)
    paused_by: Mapped[str | None] = mapped_column(String(255))
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tenant: Mapped[Tenant] = relationship()


class SyncRequest(Model):
    """An admin's request for a sync now, pending until an SIS agent claims it."""

    __tablename__ = "sync_request"
    __table_args__ = (
        # At most one pending request per tenant, however many admins click at once.
        Index(
            "uq_sync_request_one_pending",
            "tenant_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"), index=True)
    requested_by: Mapped[str] = mapped_column(String(255))
    requested_by_user_id: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=SyncRequestStatus.PENDING.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(255))


class ApprovalState(enum.StrEnum):
    """Where a held sync stands: waiting for an admin, or decided (or never decided)."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"


class JobApproval(Model):
    """A sync the change guard held before it applied its changes, and the admin's decision."""

    __tablename__ = "rostering_job_approval"
    __table_args__ = (
        # The tab's banner (a tenant's pending holds) and the worker's expiry (the oldest).
        Index("ix_rostering_job_approval_tenant_state", "tenant_id", "state"),
        Index("ix_rostering_job_approval_state_requested", "state", "requested_at"),
    )

    job_id: Mapped[int] = mapped_column(
        ForeignKey("rostering_job.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=ApprovalState.PENDING.value)
    reasons: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What the agent planned, by object type: {"enrollments": {"existing": 12000, ...}}
    planned: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(255))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job: Mapped[RosteringJob] = relationship(back_populates="approval")

    def expires_at(self, hours: int) -> datetime:
        """When the hold ends Failed if nobody decides (HOLD_EXPIRES_HOURS after it began)."""
        return self.requested_at + timedelta(hours=hours)


class JobEvent(Model):
    """Something that happened to a job that somebody may need to hear of (it reached a final
    status, or was held): written in the transaction of the change, read and removed by the
    alerts worker. The job store's outbox: it never knows who is told, or how."""

    __tablename__ = "rostering_job_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="CASCADE"))
    # None for an institution's own news (its settings changed), not a job's.
    job_id: Mapped[int | None] = mapped_column(
        ForeignKey("rostering_job.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # a final JobStatus, HELD, RESTORED, STUCK…
    # What the alert says beyond the job itself (who undid an import, and how).
    facts: Mapped[dict[str, object] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    job: Mapped[RosteringJob | None] = relationship()


HELD = "held"  # a JobEvent's kind when the change guard holds a sync
RESTORED = "restored"  # ... when Canvas undid the job's import at an admin's request
STUCK = "stuck"  # ... when an In Progress job made no progress for the institution's stuck time
SETTINGS = "settings"  # ... (no job) when an institution's safeguards or access were changed
BLACKOUT = "blackout"  # ... (no job) the day before a sync blackout starts, and when it ends


class HistoryPolicy(Model):
    """How long an institution keeps its Rostering Jobs history: forever (no row, or no
    years), or 1, 2, 3 or 5 years of Time Updated; the operator's HISTORY_MAX_YEARS caps it."""

    __tablename__ = "history_policy"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="CASCADE"), primary_key=True
    )
    keep_years: Mapped[int | None] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The last purge of the institution's history: when, and how many jobs it removed.
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purged_jobs: Mapped[int] = mapped_column(Integer, default=0)
