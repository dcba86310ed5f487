"""Undo and stop a Canvas import from the tab: review first (a page of its own in the frame),
then the admin's POST stores the request and the worker talks to Canvas (``canvas/actions``).
Looking needs only getting in; undoing needs SIS Data – manage, stopping SIS Data – import or
manage (``lti/permissions``)."""

from __future__ import annotations

from typing import Any

from babel.lists import format_list
from flask import abort, g, redirect, render_template, request
from flask_babel import gettext
from werkzeug.wrappers import Response

from .. import activity
from ..canvas import actions, connections
from ..canvas.mirror import OBJECT_NAMES
from ..canvas.models import ActionKind
from ..extensions import reads_only
from ..formatting import get_locale_name, number
from ..i18n import N_
from ..lti.permissions import Need, may, requires
from ..lti.tokens import require_launch, tool_url
from ..rostering import canvas_imports, reading
from ..rostering.models import RosteringJob
from ..timeutil import utcnow
from . import bp

CHANGES = ("deleted", "concluded", "deactivated", "created")  # Canvas's statistics an undo reverts


def _job(public_id: str) -> RosteringJob:
    """One of this institution's jobs, with its files; any other id is a 404."""
    job = reading.get_job(g.launch.tenant_id, public_id, with_details=True)
    if job is None:
        abort(404)
    return job


def _offer(job: RosteringJob) -> actions.Offer:
    return actions.offer(job, connections.for_tenant(job.tenant_id), utcnow())


def review_facts(job: RosteringJob) -> dict[str, Any]:
    """What the review page shows of the import: its statistics by object kind, whether it
    ran in batch mode, and until when Canvas can undo it."""
    document = canvas_imports.stored_import(job) or {}
    statistics = (document.get("data") or {}).get("statistics") or {}
    kinds = []
    for model, stats in sorted(statistics.items()):
        if not isinstance(stats, dict):
            continue
        counts = {key: stats.get(key) or 0 for key in CHANGES}
        if any(counts.values()):
            kinds.append((OBJECT_NAMES.get(model, model.lower()), counts))
    started = actions.started_at(document)
    return {
        "kinds": kinds,
        "choices": choices(kinds),
        "batch_mode": bool(document.get("batch_mode")),
        "import_id": job.canvas_sis_import_id,
        "undo_until": actions.undo_until(started) if started else None,
    }


def _listed(kinds: list[tuple[str, dict[str, int]]], change: str) -> str:
    """"4,000 enrollments and 12 courses": the objects of one change, in the admin's words."""
    return format_list(
        [f"{number(c[change])} {_named(name, c[change])}" for name, c in kinds if c[change]],
        locale=get_locale_name(),
    )


def _named(kind: str, count: int) -> str:
    """A kind of object as Canvas's CSV files name it, singular for one ("1 enrollment")."""
    name = kind.replace("_", " ")
    if count != 1:
        return name
    return name[:-3] + "y" if name.endswith("ies") else name.removesuffix("s")


def choices(kinds: list[tuple[str, dict[str, int]]]) -> list[tuple[str, str, str]]:
    """Each choice of an undo (its form value, its name, what it would do to this import)."""
    deleted, concluded = _listed(kinds, "deleted"), _listed(kinds, "concluded")
    deactivated, created = _listed(kinds, "deactivated"), _listed(kinds, "created")
    back = [
        gettext(template, what=what)
        for template, what in (
            (N_("%(what)s it deleted"), deleted),
            (N_("%(what)s it concluded"), concluded),
            (N_("%(what)s it deactivated"), deactivated),
        )
        if what
    ]
    everything = gettext("brings back %(what)s", what=format_list(back, locale=get_locale_name()))
    if not back:
        everything = gettext("brings nothing back")
    if created:
        everything += "; " + gettext("deletes %(what)s it created", what=created)
    nothing = gettext("changes nothing: the import did not do that")
    return [
        ("everything", gettext("Everything this import changed"), everything),
        (
            "deleted",
            gettext("Only what it deleted"),
            gettext("brings back %(what)s it deleted", what=deleted) if deleted else nothing,
        ),
        (
            "concluded",
            gettext("Only what it concluded"),
            gettext("brings back %(what)s it concluded", what=concluded) if concluded else nothing,
        ),
    ]


@bp.route("/jobs/<public_id>/restore")
@reads_only
@require_launch
def restore_review(public_id: str) -> tuple[str, int]:
    """Undo…: what each choice would do, with Canvas's limits, then the form."""
    return _review(_job(public_id))


@bp.post("/jobs/<public_id>/restore")
@require_launch
@requires(Need.MANAGE)
def restore(public_id: str) -> Any:
    """Ask Canvas to undo the job's import (the worker sends it)."""
    job = _job(public_id)
    mode = request.form.get("mode", "")
    if mode not in actions.MODES:
        return _review(job, 422, problem="mode")
    if not _offer(job).undo:
        return _review(job, 409)
    batch_mode = request.form.get("batch_mode") == "on"
    activity.record(
        job.tenant_id, "import.restore_requested", subject=_subject(job),
        after={"mode": mode, "batch_mode": batch_mode},
    )  # fmt: skip
    action, new = actions.request(
        job.tenant_id,
        ActionKind.RESTORE,
        by=g.launch.user_name,
        by_user_id=g.launch.user_id,
        job=job,
        mode=mode,
        batch_mode=batch_mode,
    )
    if not new:
        return _review(job, 409, underway=action)
    return _back("undo-requested")


def _review(job: RosteringJob, status: int = 200, **extra: Any) -> tuple[str, int]:
    """The review page (again, with ``status``, saying why nothing was done)."""
    offer = _offer(job)
    page = render_template(
        "rostering/restore.html",
        job=job,
        offer=offer,
        facts=review_facts(job),
        allowed=may(g.launch, Need.MANAGE),
        need=Need.MANAGE,
        history=actions.of_job(job.id),
        choice_words=actions.CHOICE_WORDS,
        underway=extra.get("underway") or offer.active,
        problem=extra.get("problem"),
    )
    return page, status


@bp.route("/jobs/<public_id>/abort")
@reads_only
@require_launch
def abort_review(public_id: str) -> str:
    """Stop this import…: what Canvas does when it stops an import, then the button."""
    job = _job(public_id)
    return render_template(
        "rostering/abort.html",
        job=job,
        offer=_offer(job),
        allowed=may(g.launch, Need.ACT),
        need=Need.ACT,
    )


@bp.post("/jobs/<public_id>/abort")
@require_launch
@requires(Need.ACT)
def abort_import(public_id: str) -> Any:
    """Ask Canvas to stop the job's import (the worker sends it)."""
    job = _job(public_id)
    offer = _offer(job)
    if not offer.stop:
        page = render_template(
            "rostering/abort.html", job=job, offer=offer, allowed=True, need=Need.ACT,
            finished=True,
        )  # fmt: skip
        return page, 409
    activity.record(job.tenant_id, "import.abort_requested", subject=_subject(job))
    action, new = actions.request(
        job.tenant_id, ActionKind.ABORT, by=g.launch.user_name, by_user_id=g.launch.user_id,
        job=job,
    )  # fmt: skip
    if not new:
        page = render_template(
            "rostering/abort.html", job=job, offer=offer, allowed=True, need=Need.ACT,
            underway=action,
        )  # fmt: skip
        return page, 409
    return _back("stop-requested")


@bp.post("/imports/abort_pending")
@require_launch
@requires(Need.ACT)
def abort_pending() -> Response:
    """Ask Canvas to stop every queued import of the institution's account."""
    activity.record(g.launch.tenant_id, "import.abort_pending_requested")
    _, new = actions.request(
        g.launch.tenant_id, ActionKind.ABORT_PENDING, by=g.launch.user_name,
        by_user_id=g.launch.user_id,
    )  # fmt: skip
    return _back("queue-stop-requested" if new else "queue-stop-underway")


def _subject(job: RosteringJob) -> str:
    return f"Canvas SIS import {job.canvas_sis_import_id}"


def _back(notice: str) -> Response:
    return redirect(tool_url("rostering.index", notice=notice, _anchor="jobs"), code=303)
