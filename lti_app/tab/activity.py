"""The Activity tab: the institution's trail, newest first, 50 a page, filtered by action and
person, and as a CSV download (every row the filter selects, streamed)."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Response, g, render_template, request, stream_with_context

from .. import activity
from ..activity.models import Activity
from ..extensions import reads_only
from ..formatting import iso_time
from ..lti.tokens import require_launch
from ..rostering.export import line_of, safe_cell
from ..timeutil import utcnow
from . import bp

HEADER = ("Time (UTC)", "Who", "Canvas user or token id", "Acting as", "Action", "Action tried",
          "Subject", "Before", "After", "Request id")  # fmt: skip


@bp.route("/activity")
@reads_only
@require_launch
def activity_page() -> str:
    """Who did what in this institution's SIS Integration, newest first."""
    action = request.args.get("action", "")[:64]
    person = request.args.get("person", "")[:255]
    shown = activity.page(
        g.launch.tenant_id,
        action=action,
        person=person,
        after=request.args.get("after"),
        before=request.args.get("before"),
    )
    actions, people = activity.choices(g.launch.tenant_id)
    return render_template(
        "rostering/activity.html",
        shown=shown,
        action=action,
        person=person,
        actions=actions,
        people=people,
    )


@bp.route("/activity.csv")
@require_launch
def activity_csv() -> Response:
    """The trail (what the filter selects) as a CSV download, oldest first, streamed."""
    tenant_id = g.launch.tenant_id
    action = request.args.get("action", "")[:64]
    person = request.args.get("person", "")[:255]

    def lines() -> Iterator[str]:
        yield line_of(HEADER)
        for row in activity.every(tenant_id, action=action, person=person):
            yield _line(row)

    filename = f"activity-{utcnow().date().isoformat()}.csv"
    return Response(
        stream_with_context(lines()),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _line(row: Activity) -> str:
    """A row's CSV line; any cell a spreadsheet would run as a formula is neutralised (an
    admin's name or a subject is someone's text)."""
    cells = (iso_time(row.at), row.actor, row.actor_id, row.acting_as, row.action, row.tried,
             row.subject, _values(row.before), _values(row.after), row.request_id)  # fmt: skip
    return line_of(safe_cell(cell) for cell in cells)


def _values(values: dict[str, object] | None) -> str:
    return "; ".join(f"{k}={v}" for k, v in sorted(values.items())) if values else ""
