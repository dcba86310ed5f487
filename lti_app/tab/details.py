"""A job's Details window, composed: the job store's summary, stages, change details and
messages (a page at a time), the change guard's decision, and, for a Canvas import, how the
read of its error rows stands."""

from __future__ import annotations

from flask import abort, g, render_template, request

from ..canvas import connections, error_rows
from ..lti.tokens import require_launch
from ..rostering import bp, messages, service


@bp.route("/jobs/<public_id>/details")
@require_launch
def job_details(public_id: str) -> str:
    """A job's summary, stages, change details and messages, for a new window."""
    job = service.get_job(g.launch.tenant_id, public_id, with_details=True)
    if job is None:
        abort(404)
    shown = messages.page(
        job.id,
        after=request.args.get("after", type=int),
        before=request.args.get("before", type=int),
    )
    by_file = messages.counts_by_file(job.id)
    read = error_rows.for_job(job.id) if job.canvas_sis_import_id else None
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
    )
