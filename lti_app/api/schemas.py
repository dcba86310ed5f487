"""The API's request and response bodies. Pydantic checks every field and names each problem;
the same models describe the API in its OpenAPI document."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from ..rostering import messages
from ..rostering.approvals import document as approval_document
from ..rostering.models import SCHEDULED_POSTER, RosteringJob

Status = Literal["completed", "warning", "failed", "in_progress"]
Trigger = Literal["scheduled", "manual"]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Stage = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]
CanvasImportId = Annotated[int, Field(ge=1, le=2**63 - 1)]
# Counts fit a signed 64-bit integer; ids and row numbers the database's 32-bit integers.
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
RowNumber = Annotated[int, Field(ge=0, le=2**31 - 1)]
RecordId = Annotated[int, Field(ge=1, le=2**31 - 1)]
# Times a sync or a schedule can sensibly have: every time zone can show them.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_YEAR = 2100


def sensible_time(value: datetime) -> datetime:
    """Refuse times no rostering sync has (they would not show in every time zone)."""
    if value < EARLIEST or value.year >= LATEST_YEAR:
        raise ValueError(f"must be between 2000-01-01 and {LATEST_YEAR}-01-01")
    return value


SyncTime = Annotated[AwareDatetime, AfterValidator(sensible_time)]
CLOCK_SKEW = timedelta(minutes=5)  # an agent's clock may run this far ahead of ours


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChangeCounts(Strict):
    """How many objects of one type a sync created, updated and deleted."""

    created: Count = 0
    updated: Count = 0
    deleted: Count = 0


class Message(Strict):
    """An error or warning of a sync, pointing at the file and row it came from."""

    severity: Literal["error", "warning"]
    file: Annotated[str, StringConstraints(max_length=255)] = ""
    row: RowNumber | None = None
    message: Annotated[str, StringConstraints(min_length=1, max_length=5000)]
    row_info: Annotated[str, StringConstraints(max_length=5000)] | None = Field(
        None, description="The row's own text, as the file had it."
    )


class JobFileIn(Strict):
    """A JSON file of the job (the Canvas import JSON), as text: it is kept verbatim."""

    name: Name
    content: str = Field(description="The JSON document as text; stored byte for byte.")

    @field_validator("content")
    @classmethod
    def must_be_json(cls, value: str) -> str:
        try:
            json.loads(value)
        except ValueError as exc:
            raise ValueError(f"is not a JSON document ({exc})") from exc
        return value


ChangeDetails = dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], ChangeCounts]


class JobFields(Strict):
    """What an SIS agent reports about a sync, new or past."""

    external_id: Name = Field(description="The agent's own id for the sync; unique per tenant.")
    type: Name = "Roster Import"
    posted_by: Name | None = Field(
        None,
        description='Who started the sync. Defaults to "Canvas Integrations Admin" for '
        "scheduled syncs; for a sync request it is always the admin who asked.",
    )
    trigger: Trigger = "scheduled"
    sis_type: Name = Field(description="The SIS or API agent, e.g. OneRoster.")
    stage: Stage = ""
    status: Status = "in_progress"
    change_counts: ChangeDetails = Field(default_factory=dict)
    messages: list[Message] = Field(default_factory=list, max_length=10_000)
    files: list[JobFileIn] = Field(default_factory=list, max_length=20)

    def _check(self, answers_request: bool) -> None:
        if self.status == "completed" and self.stage:
            raise ValueError("a completed job has no stage")
        if self.trigger == "manual" and not self.posted_by and not answers_request:
            raise ValueError("a manual sync needs posted_by or sync_request_id")


class JobCreate(JobFields):
    """A new rostering job, as the SIS agent reports it when a sync starts (or ends)."""

    sync_request_id: RecordId | None = Field(None, description="The sync request this job answers.")
    canvas_sis_import_id: CanvasImportId | None = Field(
        None,
        description="The Canvas SIS import this sync ended in: the job absorbs that import "
        "(its JSON, counts and errors; its final status follows Canvas's) and no separate "
        '"SIS Import" row is shown for it.',
    )

    @model_validator(mode="after")
    def consistent(self) -> JobCreate:
        self._check(answers_request=self.sync_request_id is not None)
        return self


class PastJob(JobFields):
    """A sync that ended before the agent reported it: its history, with its own times."""

    status: Literal["completed", "warning", "failed"]
    created_at: SyncTime = Field(description="When the sync started (2000 or later).")
    updated_at: SyncTime | None = Field(
        None, description="When it last changed (ended); defaults to created_at."
    )

    @model_validator(mode="after")
    def consistent(self) -> PastJob:
        self._check(answers_request=False)
        if self.updated_at is not None and self.updated_at < self.created_at:
            raise ValueError("updated_at is before created_at")
        if (self.updated_at or self.created_at) > datetime.now(UTC) + CLOCK_SKEW:
            raise ValueError("a past sync cannot end in the future")
        return self


class JobImport(Strict):
    """Past syncs, stored all or none; the same jobs again are a harmless retry."""

    jobs: list[PastJob] = Field(min_length=1, max_length=1000)

    @model_validator(mode="after")
    def distinct(self) -> JobImport:
        seen: set[str] = set()
        for job in self.jobs:
            if job.external_id in seen:
                raise ValueError(f"external_id {job.external_id!r} is in the import twice")
            seen.add(job.external_id)
        return self


class ImportedJob(BaseModel):
    external_id: str
    id: str
    created: bool = Field(description="False when the job was already stored (a retry).")


class ImportResult(BaseModel):
    """What an import stored, job by job in the order sent."""

    created: int
    existing: int
    jobs: list[ImportedJob]


class JobUpdate(Strict):
    """Changes to a job. Fields left out stay as they are; ``messages`` replaces the list and
    ``files`` adds files or replaces those of the same name, so a retried update is harmless."""

    stage: Stage | None = None
    status: Status | None = None
    change_counts: ChangeDetails | None = None
    messages: list[Message] | None = Field(None, max_length=10_000)
    files: list[JobFileIn] | None = Field(None, max_length=20)
    canvas_sis_import_id: CanvasImportId | None = Field(
        None, description="The Canvas SIS import this sync ended in (see the create body)."
    )

    @model_validator(mode="after")
    def not_empty(self) -> JobUpdate:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        if self.status == "completed" and self.stage:
            raise ValueError("a completed job has no stage")
        return self


class JobFileOut(BaseModel):
    name: str
    content: str


class Planned(Strict):
    """What a sync is about to change of one kind of object (``existing``: how many there
    are now, so the guard can weigh the deletions as a share)."""

    existing: Count | None = None
    created: Count = 0
    updated: Count = 0
    deleted: Count = 0


class ChangeCheck(Strict):
    """The changes a sync is about to apply, by kind of object (as in ``change_counts``)."""

    planned: dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Planned] = Field(
        min_length=1, max_length=64
    )


class ChangeDecision(BaseModel):
    """Go ahead (200), or wait for an admin's approval (202) and ask again with GET. With
    ``skip_deletes``, import with Canvas's ``skip_deletes=true``: the institution takes
    additions only, and the deletions in the files are not to happen."""

    decision: Literal["proceed", "held"]
    reasons: list[str] = Field(default_factory=list)
    skip_deletes: bool = False


class GuardLine(BaseModel):
    """A change guard's line: more than ``percent`` % of the existing objects of any kind, or
    more than ``count`` of them, deleted."""

    enabled: bool
    percent: int
    count: int


class GuardAllowance(BaseModel):
    """A one-time allowance: a larger line until ``until`` or for ``syncs_left`` more syncs."""

    percent: int
    count: int
    until: datetime
    syncs_left: int | None
    reason: str
    set_by: str


class AdditionsOnly(BaseModel):
    """Days (inclusive, in the institution's zone) when deletions are skipped."""

    from_: date = Field(alias="from")
    to: date


class ChangeGuard(GuardLine):
    """The institution's change guard: the line in force now (``enabled``, ``percent``,
    ``count``: a sync over it waits for approval), the ``ordinary`` line, the one-time
    ``allowance`` in force (if any) and ``skip_deletes`` while the institution takes
    additions only. Only the institution's admins (in Canvas) and the operator can change it."""

    ordinary: GuardLine
    allowance: GuardAllowance | None
    skip_deletes: bool
    additions_only: AdditionsOnly | None


class Blackout(BaseModel):
    """Days no scheduled sync runs, as instants in the institution's zone (``ends_at`` is the
    first moment after the last day)."""

    starts_at: datetime
    ends_at: datetime
    reason: str


class Approval(BaseModel):
    """The change guard held this sync: an admin approves or rejects it in Canvas."""

    state: Literal["pending", "approved", "rejected", "expired"]
    reasons: list[str]
    planned: dict[str, dict[str, int]]
    decided_by: str | None
    decided_at: datetime | None


class JobOut(BaseModel):
    """A rostering job."""

    id: str = Field(description="The tool's id for the job.")
    external_id: str
    type: str
    posted_by: str
    trigger: Trigger
    sis_type: str
    stage: str
    status: Status
    change_counts: dict[str, dict[str, int]]
    stage_history: list[dict[str, str]]
    sync_request_id: int | None
    canvas_sis_import_id: int | None
    created_at: datetime
    updated_at: datetime
    messages: list[Message] | None = Field(
        None,
        description="Only on a single job: its first 100 messages (all of them, when "
        "messages_next is null).",
    )
    messages_next: str | None = Field(
        None,
        description="Only on a single job with more than 100 messages: the cursor of the "
        "rest, for GET /rostering_jobs/{job_ref}/messages.",
    )
    files: list[JobFileOut] | None = Field(None, description="Only on a single job.")
    approval: Approval | None = Field(
        None, description="Only on a single job, and only when the change guard held it."
    )


def message_out(message: Any) -> Message:
    """A message of a page (``messages.page``) as the API shows it."""
    return Message(
        severity=message.severity,
        file=message.file,
        row=message.row,
        message=message.message,
        row_info=message.row_info,
    )


def job_out(job: RosteringJob, *, full: bool) -> dict[str, Any]:
    """A job as the API answers it: with its first messages, files and approval when
    ``full``."""
    first = messages.page(job.id) if full else None
    out = JobOut(
        id=job.public_id,
        external_id=job.external_id,
        type=job.type,
        posted_by=job.posted_by,
        # Stored text into the schema's Literals (trigger, status): Pydantic checks them.
        trigger=job.trigger,  # type: ignore[arg-type]
        sis_type=job.sis_type,
        stage=job.stage,
        status=job.status,  # type: ignore[arg-type]
        change_counts=job.change_counts,
        stage_history=job.stage_history,
        sync_request_id=job.sync_request_id,
        canvas_sis_import_id=job.canvas_sis_import_id,
        created_at=job.created_at,
        updated_at=job.updated_at,
        messages=[message_out(m) for m in first.rows] if first else None,
        messages_next=messages.cursor_of(first.rows[-1]) if first and first.more_after else None,
        files=[JobFileOut(name=f.name, content=f.content) for f in job.files] if full else None,
        approval=Approval.model_validate(approval_document(job.approval))
        if full and job.approval is not None
        else None,
    )
    return dump(out)


class MessageList(BaseModel):
    """A page of a job's messages, in order; pass ``next_cursor`` as ``cursor`` for the next."""

    data: list[Message]
    next_cursor: str | None


class JobList(BaseModel):
    """A page of jobs, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    data: list[JobOut]
    next_cursor: str | None


class ScheduleIn(Strict):
    """The sync automation schedule."""

    type: Name = "Roster Import"
    frequency: Literal["hourly", "daily", "weekly"]
    every_hours: int | None = Field(None, ge=1, le=168, description="For hourly schedules.")
    time_of_day: Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")] | None = (
        Field(None, description="HH:MM in the schedule's time zone, for daily and weekly.")
    )
    weekdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(
        default_factory=list, description="ISO weekdays (1 = Monday), for weekly schedules."
    )
    first_run: SyncTime = Field(description="Between 2000-01-01 and 2100-01-01.")
    timezone: Name = "UTC"
    enabled: bool = True
    posted_by: Name = SCHEDULED_POSTER

    @field_validator("timezone")
    @classmethod
    def known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("is not an IANA time zone, e.g. America/Chicago") from exc
        return value

    @model_validator(mode="after")
    def complete(self) -> ScheduleIn:
        if self.frequency == "hourly" and not self.every_hours:
            raise ValueError("an hourly schedule needs every_hours")
        if self.frequency in ("daily", "weekly") and not self.time_of_day:
            raise ValueError(f"a {self.frequency} schedule needs time_of_day")
        if self.frequency == "weekly" and not self.weekdays:
            raise ValueError("a weekly schedule needs weekdays")
        return self


class ScheduleOut(ScheduleIn):
    model_config = ConfigDict(extra="ignore")
    # What is stored is shown as it is, whatever an older version accepted.
    first_run: datetime
    interval: str = Field(description="The interval in words, as the Rostering tab shows it.")
    next_run: datetime | None = Field(description="Derived; null while paused.")
    paused_by: str | None
    paused_at: datetime | None
    updated_at: datetime
    blackouts: list[Blackout] = Field(description="Upcoming (and the current) blackouts.")
    in_blackout: Blackout | None = Field(description="The blackout in force now, if any.")


class SyncRequestOut(BaseModel):
    """An admin's "Sync now". Post the job that answers it with ``sync_request_id``."""

    id: int
    status: Literal["pending", "claimed"]
    requested_by: str = Field(description="The admin's name: the job's posted_by.")
    created_at: datetime
    claimed_at: datetime | None
    claimed_by: str | None


class SyncRequestList(BaseModel):
    data: list[SyncRequestOut]


class ClaimIn(Strict):
    agent: Name = Field("SIS agent", description="Who claims the request, for the record.")


class Problem(BaseModel):
    field: str
    message: str


class Error(BaseModel):
    """Every error answer: a title, a sentence, and for bad input each problem by field."""

    error: str
    message: str
    problems: list[Problem] = Field(default_factory=list)


def dump(model: BaseModel) -> dict[str, Any]:
    """A response model as JSON-ready data."""
    return model.model_dump(mode="json")
