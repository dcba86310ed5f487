"""A job's Details window, composed: the job store's summary, stages, change details and
messages (a page at a time), the change guard's decision, and, for a Canvas import, how the
read of its error rows stands."""

from __future__ import annotations

from flask import abort, g, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..canvas import actions, connections, error_rows
from ..canvas.models import ErrorRead
from ..extensions import db
from ..lti.tokens import require_launch
from ..rostering import canvas_imports, messages
from ..rostering.models import RosteringJob
from . import bp


@bp.route("/jobs/<public_id>/details")
@require_launch
def job_details(public_id: str) -> str:
    """A job's summary, stages, change details and messages, for a new window: the job, its
    files and its read of Canvas's rows in one query, then a page of its messages."""
    found = (
        db.session.execute(
            select(RosteringJob, ErrorRead)
            .outerjoin(ErrorRead, ErrorRead.job_id == RosteringJob.id)
            .where(
                RosteringJob.tenant_id == g.launch.tenant_id, RosteringJob.public_id == public_id
            )
            .options(joinedload(RosteringJob.files))
        )
        .unique()
        .first()
    )
    if found is None:
        abort(404)
    job, read = found
    shown = messages.page(
        job.id,
        after=request.args.get("after", type=int),
        before=request.args.get("before", type=int),
    )
    by_file = error_rows.counted(job.id, read)
    connection = (
        connections.for_tenant(job.tenant_id) if read is not None and read.reading else None
    )
    return render_template(
        "rostering/job_details.html",
        job=job,
        shown=shown,
        by_file=by_file,
        errors=sum(c.errors for c in by_file),
        warnings=sum(c.warnings for c in by_file),
        read=read,
        kept_note=error_rows.KEPT_NOTE,
        scope_missing=connection is not None and connection.errors_scope_missing,
        can_connect=connection is not None
        and connections.api_key_for(connection.base_url) is not None,
        history=actions.of_job(job.id),
        choice_words=actions.CHOICE_WORDS,
        canvas_import=canvas_imports.stored_import(job) if job.canvas_sis_import_id else None,
    )
