"""The Rostering tab's jobs list around the page: live status, each job's JSON and files, the
errors and jobs CSV downloads, and the sync health section rendered once per change. Every
view is behind a launch token and scoped to its tenant."""

from __future__ import annotations

import json
from typing import Any

from flask import (
    Response,
    abort,
    g,
    jsonify,
    render_template,
    request,
    stream_with_context,
)
from flask_babel import gettext
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from .. import activity
from ..extensions import db, reads_only
from ..formatting import get_locale_name, iso_time, local_time
from ..i18n import N_
from ..lti.tokens import require_launch
from ..rostering import export, filters, health, messages, reading
from ..rostering.words import tool_word
from ..timeutil import utcnow
from . import bp, fragments
from .templating import status_badge


def int_arg(name: str, default: int) -> int:
    """A whole-number query parameter, or the default."""
    value = request.args.get(name, type=int)
    return default if value is None else value


HEALTH_TTL = 30.0  # seconds a rendered health section is reused ("12 hours ago" stays true)
_health = fragments.Kept(size=1000, ttl=HEALTH_TTL)


def health_section(newest: reading.Key | None) -> Markup:
    """The sync health section, rendered once and reused while the tenant's newest job and the
    admin's zone and language stay the same (at most ``HEALTH_TTL`` seconds): later views, the
    pager and Refresh, pay nothing for the summary and its chart. ``newest`` is the newest
    job's position (``reading.newest_key``; the tab's state query brings it along)."""
    launch = g.launch
    key = (launch.tenant_id, launch.timezone, get_locale_name(), newest)
    return fragments.with_token(
        _health.get(
            key,
            lambda: render_template(
                "rostering/_health.html",
                health=health.summary(launch.tenant_id, launch.timezone, utcnow()),
            ),
        )
    )


def job_filter() -> filters.JobFilter:
    """The filter the request's URL names (bad values are noted on it, never refused)."""
    return filters.parse(request.args, g.launch.timezone)


# What the live region says when a job's status changes ("Roster Import completed").
ANNOUNCED = {
    "completed": N_("%(type)s completed"),
    "warning": N_("%(type)s completed with warnings"),
    "failed": N_("%(type)s failed"),
    "in_progress": N_("%(type)s is in progress"),
}


@bp.route("/live")
@reads_only
@require_launch
def live() -> Response:
    """Live status for the page: the rows it names (``job``, up to 100, with the status the
    page shows as ``seen``), whether a sync runs or is requested, and, when anything changed,
    the health summary again. Any id that is not one of the tenant's jobs: 404."""
    tenant_id = g.launch.tenant_id
    ids = request.args.getlist("job")[:100]
    seen = dict(zip(ids, request.args.getlist("seen"), strict=False))
    check = reading.live_check(tenant_id, ids)
    if len(check.statuses) != len(set(ids)):
        abort(404)  # a job of another tenant, or none
    moved = [job for job, status in check.statuses.items() if seen.get(job) != status]
    changed: dict[str, dict[str, str]] = {}
    for job in reading.live_details(tenant_id, moved) if moved else []:
        changed[job.public_id] = {
            "status": job.status,
            "badge": str(status_badge(job.status)),
            "stage": tool_word(job.stage),
            "updated": local_time(job.updated_at),
            "updated_iso": iso_time(job.updated_at),
            "announcement": gettext(ANNOUNCED[job.status], type=tool_word(job.type)),
        }
    answer: dict[str, Any] = {
        "jobs": changed,
        "running": check.running,
        "pending": check.pending,
        "launch_token": g.launch_token,
    }
    if changed or request.args.get("pending") != ("1" if check.pending else "0"):
        answer["health_html"] = str(health_section(reading.newest_key(tenant_id)))
    return jsonify(answer)


def _job_or_404(public_id: str) -> reading.RosteringJob:
    """One of this tenant's jobs with its files; any other id is a 404."""
    job = reading.get_job(g.launch.tenant_id, public_id, with_details=True)
    if job is None:
        abort(404)
    return job


@bp.route("/jobs/<public_id>/json")
@reads_only
@require_launch
def job_json(public_id: str) -> str:
    """A job's JSON file(s), pretty-printed, for a new window."""
    job = _job_or_404(public_id)
    shown = []
    for index, file in enumerate(job.files):
        try:
            pretty = json.dumps(json.loads(file.content), indent=2, ensure_ascii=False)
        except ValueError:
            pretty = file.content  # kept verbatim even when it is not valid JSON
        shown.append((index, file, pretty))
    return render_template("rostering/job_json.html", job=job, files=shown)


@bp.route("/jobs/<public_id>/files/<int:index>")
@reads_only
@require_launch
def job_file_raw(public_id: str, index: int) -> Response:
    """One of a job's JSON files exactly as it was posted, as a download."""
    job = _job_or_404(public_id)
    if not 0 <= index < len(job.files):
        abort(404)
    file = job.files[index]
    name = _filename_part(file.name.removesuffix(".json")) + ".json"
    return Response(
        file.content,
        mimetype="application/json",
        headers={"Content-Disposition": _attachment(name)},
    )


@bp.route("/jobs/<public_id>/messages.csv")
@require_launch
def messages_csv(public_id: str) -> Response:
    """Every error and warning of a job as a CSV download, streamed."""
    job = _job_or_404(public_id)
    activity.record(job.tenant_id, "errors_csv.downloaded", subject=job.public_id)
    db.session.commit()
    filename = f"errors-{_filename_part(job.external_id)}-{utcnow().date().isoformat()}.csv"
    return Response(
        stream_with_context(messages.csv_chunks(job.id)),
        mimetype="text/csv",
        headers={"Content-Disposition": _attachment(filename)},
    )


@bp.route("/jobs.csv")
@require_launch
def download() -> BaseResponse:
    """The tenant's job history (what the filter selects, if any) as a CSV download, streamed."""
    launch = g.launch
    label = _filename_part(launch.account_name or launch.tenant.display_name)
    jobs_filter = job_filter()
    which = f"-{jobs_filter.file_part()}" if jobs_filter.active else ""
    filename = f"rostering-jobs-{label}{which}-{utcnow().date().isoformat()}.csv"
    activity.record(launch.tenant_id, "csv.downloaded", subject=jobs_filter.file_part())
    db.session.commit()
    lines = export.csv_chunks(launch.tenant_id, jobs_filter.where if jobs_filter.active else None)
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": _attachment(filename)},
    )


def _filename_part(text: str) -> str:
    """Letters, digits and dashes only: safe in a Content-Disposition header and on any disk."""
    safe = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(filter(None, safe.split("-")))[:60] or "file"


def _attachment(filename: str) -> str:
    return f'attachment; filename="{filename}"'
