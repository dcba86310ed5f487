"""The change guard in the agent API: the agent reads the guard and asks before it applies a
sync. The routes join the agent API's blueprint (its token, its errors, its OpenAPI document);
nothing here can change the guard: only the institution's admins and the operator can."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify

from ..api import bp, schemas
from ..api.tokens import require_token
from ..api.views import ApiError, body_of, find_job
from ..extensions import db, reads_only
from ..rostering import approvals, blackouts
from ..rostering.models import ApprovalState, Trigger
from ..timeutil import utcnow
from . import guard
from .models import AlertSettings


@bp.get("/change_guard")
@reads_only
@require_token
def get_change_guard() -> Any:
    """The institution's change guard: the line in force now, the allowance, additions only."""
    row = db.session.get(AlertSettings, g.api_token.tenant_id)
    return jsonify(guard.document(row, utcnow()))


@bp.post("/rostering_jobs/<path:job_ref>/change_check")
@require_token
def change_check(job_ref: str) -> Any:
    """Proceed, or hold the sync until an admin decides (202)."""
    # The agent's one extra round trip: a few queries when the sync may proceed (the token,
    # the job, the guard's row, the blackouts); the job's files and messages are not read.
    job = find_job(job_ref, with_details=False)
    body, _ = body_of(schemas.ChangeCheck)
    if job.status_enum.is_final:
        raise ApiError(409, "Conflict", f"the job is {job.status_enum.label}, which is final")
    planned = {kind: counts.model_dump(exclude_none=True) for kind, counts in body.planned.items()}
    approval = job.approval
    if approval is not None and approval.state == ApprovalState.APPROVED:
        # An admin approved this sync: asking again (a retry) changes nothing.
        return jsonify({"decision": "proceed", "reasons": approval.reasons})
    if approval is not None and approval.state == ApprovalState.PENDING:
        # Held already: nobody is told twice, and an allowance given since does not release
        # it (the admin approves it).
        return jsonify({"decision": "held", "reasons": approval.reasons}), 202
    now = utcnow()
    blackout = blackouts.current(job.tenant_id, now)
    if blackout is not None and job.trigger != Trigger.MANUAL:
        # A scheduled sync run anyway waits for an admin; an admin's Sync now (confirmed
        # during the blackout) does not wait again.
        return _hold(job, [_during(blackout)], planned)
    row = db.session.get(AlertSettings, job.tenant_id)
    if guard.additions_only(row, now):
        # Deletions will not happen (the agent imports with skip_deletes): nothing to hold.
        return jsonify({"decision": "proceed", "reasons": [], "skip_deletes": True})
    reasons = guard.over_the_line(planned, guard.in_force(row, now))
    if reasons:
        return _hold(job, reasons, planned)
    if guard.over_the_line(planned, guard.Thresholds.of(row)):
        guard.use_allowance(job.tenant_id)  # the allowance let this one through
        db.session.commit()
    return jsonify({"decision": "proceed", "reasons": []})


def _hold(job: Any, reasons: list[str], planned: dict[str, dict[str, int]]) -> Any:
    approvals.hold(job, reasons, planned)
    return jsonify({"decision": "held", "reasons": reasons}), 202


def _during(blackout: Any) -> str:
    """"during the Winter break blackout (Dec 20 – Jan 6)" (the agent API speaks English)."""
    span = f"{blackout.starts_on:%b} {blackout.starts_on.day} – {blackout.ends_on:%b} {blackout.ends_on.day}"  # noqa: E501
    name = f"the {blackout.reason} blackout" if blackout.reason else "a sync blackout"
    return f"during {name} ({span})"
