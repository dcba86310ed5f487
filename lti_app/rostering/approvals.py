"""Held syncs: the job store's side of the change guard. A sync the guard holds waits at the
stage Awaiting approval until an admin approves or rejects it, or the hold expires. Whether a
sync must be held is the guard's decision (``alerts/guard.py``); this records it and its end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ..extensions import db, rowcount
from ..i18n import N_
from ..timeutil import utcnow
from .models import (
    AWAITING_APPROVAL,
    HELD,
    ApprovalState,
    JobApproval,
    JobMessage,
    JobStatus,
    RosteringJob,
)
from .writing import record_event

# The message a sync ends with when it is not approved (English here; pages translate it).
REJECTED_BY = N_("Rejected by %(name)s")
NOT_APPROVED = N_("Not approved within %(hours)s hours")
GUARD_SOURCE = "guard"  # the source of the messages the change guard adds to a job


def hold(job: RosteringJob, reasons: list[str], planned: dict[str, dict[str, int]]) -> bool:
    """Hold an In Progress sync for approval; False when it was already held (nothing
    changes, and nobody is told twice). Commits."""
    if job.approval is not None and job.approval.state == ApprovalState.PENDING:
        return False
    job.approval = JobApproval(
        tenant_id=job.tenant_id, reasons=reasons, planned=planned, requested_at=utcnow()
    )
    now = utcnow()
    if job.stage != AWAITING_APPROVAL:
        job.stage_history = [
            *job.stage_history,
            {"stage": AWAITING_APPROVAL, "at": now.isoformat()},
        ]
    job.stage = AWAITING_APPROVAL
    job.updated_at = max(now, job.updated_at)
    record_event(job, HELD)
    db.session.commit()
    return True


@dataclass(frozen=True)
class Decision:
    """What became of an admin's Approve or Reject."""

    approval: JobApproval
    decided: bool  # this admin decided; False when someone (or the clock) had already


def decide(
    job: RosteringJob, approve: bool, by: str, on_decided: Callable[[], object] | None = None
) -> Decision:
    """Approve or reject a held sync. The first decision wins, however many admins click
    at once (one guarded UPDATE decides); a rejected sync ends Failed. ``on_decided`` adds
    what goes with a decision that won (its activity row) to the same transaction. Commits."""
    now = utcnow()
    state = ApprovalState.APPROVED if approve else ApprovalState.REJECTED
    result = db.session.execute(
        update(JobApproval)
        .where(JobApproval.job_id == job.id, JobApproval.state == ApprovalState.PENDING.value)
        .values(state=state.value, decided_by=by, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    decided = rowcount(result) == 1
    if decided and not approve:
        _fail(job, REJECTED_BY % {"name": by}, now)
    elif decided:
        job.updated_at = max(now, job.updated_at)  # the list shows it moved
    if decided and on_decided is not None:
        on_decided()
    db.session.commit()
    approval = db.session.get(JobApproval, job.id, populate_existing=True)
    assert approval is not None
    return Decision(approval, decided)


def _fail(job: RosteringJob, message: str, now: datetime) -> None:
    job.status = JobStatus.FAILED.value
    job.stage = AWAITING_APPROVAL
    job.messages.append(JobMessage(severity="error", source=GUARD_SOURCE, message=message))
    job.updated_at = max(now, job.updated_at)
    record_event(job, job.status)


def expire(hours: int, now: datetime | None = None) -> int:
    """End every sync held longer than ``hours`` without a decision: Failed, "Not approved
    within N hours". Returns how many ended. Commits after each."""
    now = now or utcnow()
    ended = 0
    stmt = (
        select(JobApproval.job_id)
        .where(
            JobApproval.state == ApprovalState.PENDING.value,
            JobApproval.requested_at < now - timedelta(hours=hours),
        )
        .order_by(JobApproval.requested_at)
        .limit(500)
    )
    for job_id in db.session.scalars(stmt).all():
        result = db.session.execute(
            update(JobApproval)
            .where(JobApproval.job_id == job_id, JobApproval.state == ApprovalState.PENDING.value)
            .values(state=ApprovalState.EXPIRED.value, decided_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(result) == 1:
            job = db.session.get(RosteringJob, job_id)
            assert job is not None
            _fail(job, NOT_APPROVED % {"hours": hours}, now)
            ended += 1
        db.session.commit()
    return ended


def document(approval: JobApproval | None) -> dict[str, Any] | None:
    """The approval as the agent API shows it on a job."""
    if approval is None:
        return None
    return {
        "state": approval.state,
        "reasons": approval.reasons,
        "planned": approval.planned,
        "decided_by": approval.decided_by,
        "decided_at": approval.decided_at,
    }
