"""A job's Details window, composed: the job store's summary, stages, change details and
messages (a page at a time), the change guard's decision, and, for a Canvas import, how the
read of its error rows stands."""

from __future__ import annotations

from flask import abort, g, render_template, request

from ..canvas import actions
from ..extensions import reads_only
from ..lti.tokens import require_launch
from . import bp, queries


@bp.route("/jobs/<public_id>/details")
@reads_only
@require_launch
def job_details(public_id: str) -> str:
    """A job's summary, stages, change details and messages, for a new window."""
    view = queries.details(
        g.launch.tenant_id,
        public_id,
        after=request.args.get("after", type=int),
        before=request.args.get("before", type=int),
    )
    if view is None:
        abort(404)
    return render_template(
        "rostering/job_details.html", view=view, choice_words=actions.CHOICE_WORDS
    )
