"""The change guard in the agent API: the agent reads the guard and asks before it applies a
sync. The routes join the agent API's blueprint (its token, its errors, its OpenAPI document);
nothing here can change the guard: only the institution's admins and the operator can."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify

from ..api import bp, schemas
from ..api.tokens import require_token
from ..api.views import ApiError, body_of, find_job
from ..rostering import approvals
from ..rostering.models import ApprovalState
from . import guard


@bp.get("/change_guard")
@require_token
def get_change_guard() -> Any:
    """The institution's change guard."""
    return jsonify(guard.thresholds(g.api_token.tenant_id).document())


@bp.post("/rostering_jobs/<path:job_ref>/change_check")
@require_token
def change_check(job_ref: str) -> Any:
    """Proceed, or hold the sync until an admin decides (202)."""
    # The agent's one extra round trip: three queries when the sync may proceed (the token,
    # the job, the guard); the job's files and messages are not read.
    job = find_job(job_ref, with_details=False)
    body, _ = body_of(schemas.ChangeCheck)
    if job.status_enum.is_final:
        raise ApiError(409, "Conflict", f"the job is {job.status_enum.label}, which is final")
    planned = {kind: counts.model_dump(exclude_none=True) for kind, counts in body.planned.items()}
    reasons = guard.over_the_line(planned, guard.thresholds(job.tenant_id))
    if not reasons:
        return jsonify({"decision": "proceed", "reasons": []})
    approval = job.approval
    if approval is not None and approval.state == ApprovalState.APPROVED:
        # An admin approved this sync: asking again (a retry) changes nothing.
        return jsonify({"decision": "proceed", "reasons": approval.reasons})
    if approval is not None and approval.state == ApprovalState.PENDING:
        reasons = approval.reasons  # held already: nobody is told twice
    else:
        approvals.hold(job, reasons, planned)
    return jsonify({"decision": "held", "reasons": reasons}), 202
