"""Undo and stop: an admin asks Canvas to restore (undo) or abort (stop) an SIS import.

The admin's POST writes a ``CanvasAction`` row in its own transaction and returns at once; the
worker does the talking (``tick``), exactly as alerts are delivered from their outbox:

1. ``pending``: the worker writes ``sending`` (committed) and then sends the PUT. Canvas's 5xx,
   429 and timeouts are retried with backoff (the client's own tries, then again later, for
   CANVAS_ACTION_RETRY_MINUTES: a restore sent again looks at the import first); a refusal
   ends the action with Canvas's words.
2. ``sending`` found by a worker (the one before it died after, or during, the PUT): it never
   sends a restore again; it looks at the import instead (restoring or restored: the PUT
   arrived, follow it; unchanged for RESUME_WAIT: say so and stop). An abort is sent again:
   Canvas's abort of an import already aborted is a 404, changing nothing.
3. ``following`` (a restore): Canvas's Progress and the import are read every
   CANVAS_ACTION_POLL_SECONDS, the job kept in step ("Restoring (45%)"), until both have ended:
   the action ends with Canvas's ``restored`` counts and ``sync.restored`` is told.

One action at a time per import (``active_key``, unique per institution while active): a
second request adds nothing and says who started the first.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from .. import leases
from ..extensions import db
from ..i18n import N_
from ..rostering import canvas_imports
from ..rostering.models import RESTORED, RosteringJob
from ..rostering.writing import record_event
from ..timeutil import as_utc, utcnow
from . import connections
from .client import (
    ActionRefused,
    CanvasClient,
    CanvasError,
    CanvasUnavailable,
    NotFound,
    NotPermitted,
    ScopeMissing,
    TokenRejected,
)
from .mirror import OBJECT_NAMES, store
from .models import ActionKind, ActionState, CanvasAction, CanvasConnection

log = logging.getLogger(__name__)

# Canvas deletes what it needs to undo an import 30 days after writing it, which it does as the
# import runs (SisBatchRollBackData, ``expired_data``: created_at < 30.days.ago): counted here
# from when the import started, so no part of it has gone when the tool still offers the undo.
UNDO_DAYS = 30
RESUME_WAIT = timedelta(minutes=2)  # a restore whose PUT may not have arrived: how long to look
BATCH = 10
STOPPABLE = ("initializing", "created", "importing", "cleanup_batch")  # abort's states
QUEUED = ("initializing", "created")  # abort_all_pending's
FINAL_RESTORE = ("restored", "partially_restored")

# A restore's choice, the flags it sends, and how the tool names it.
MODES = {
    "everything": {},
    "deleted": {"undelete_only": True},
    "concluded": {"unconclude_only": True},
}
CHOICE_WORDS = {
    ("everything", False): N_("everything it changed"),
    ("deleted", False): N_("only what it deleted"),
    ("concluded", False): N_("only what it concluded"),
    ("everything", True): N_("only what batch mode removed"),
    ("deleted", True): N_("only what batch mode removed, and only what it deleted"),
    ("concluded", True): N_("only what batch mode removed, and only what it concluded"),
}
STOPPED_BY = N_("Stopped by %(name)s")  # the line a stopped import's job ends with

NO_IMPORT = N_(
    "This sync did not name a Canvas SIS import, so there is nothing in Canvas to undo or stop."
)
NOT_CONNECTED = N_("Connect this institution to Canvas to undo and stop its imports.")
RECONNECT = N_("Reconnect to Canvas to undo and stop imports.")
RECONNECT_BY_OPERATOR = N_(
    "The Canvas connection was made without the scopes to undo and stop imports: ask your "
    "SIS Integration operator to connect again (flask canvas connect)."
)
TOO_OLD = N_("Canvas keeps what it needs to undo an import for 30 days.")
NOT_FINISHED = N_("Canvas can undo an import once it has finished.")


@dataclass(frozen=True)
class Offer:
    """What the tab offers for a job's import: undo or stop, or why neither."""

    undo: bool = False
    stop: bool = False
    why_not: str = ""  # a sentence (to translate) when neither is offered
    active: CanvasAction | None = None  # an undo or stop already under way


def offer(job: RosteringJob, connection: CanvasConnection | None, now: datetime) -> Offer:
    """Whether the job's Canvas import can be undone or stopped from the tab now."""
    if job.canvas_sis_import_id is None:
        return Offer(why_not=NO_IMPORT)
    if connection is None or connection.needs_reconnecting:
        return Offer(why_not=NOT_CONNECTED)
    if connection.actions_scope_missing:
        can_connect = connections.api_key_for(connection.base_url) is not None
        return Offer(why_not=RECONNECT if can_connect else RECONNECT_BY_OPERATOR)
    active = active_for(job.tenant_id, job.canvas_sis_import_id)
    document = canvas_imports.stored_import(job) or {}
    state = str(document.get("workflow_state") or "")
    if state in STOPPABLE:
        return Offer(stop=True, active=active)
    if not job.status_enum.is_final and state != "restoring":
        return Offer(why_not=NOT_FINISHED, active=active)
    started = started_at(document)
    if started is None or now >= undo_until(started):
        return Offer(why_not=TOO_OLD, active=active)
    return Offer(undo=True, active=active)


def started_at(document: dict[str, Any]) -> datetime | None:
    """When the import started (else was created), as Canvas sent it."""
    return _time(document.get("started_at")) or _time(document.get("created_at"))


def undo_until(started: datetime) -> datetime:
    """Until when Canvas can undo an import that started then."""
    return started + timedelta(days=UNDO_DAYS)


def _time(value: Any) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def active_for(tenant_id: int, import_id: int | None) -> CanvasAction | None:
    """The undo or stop under way for an import (or, with None, the account's queue)."""
    return db.session.scalars(
        select(CanvasAction).where(
            CanvasAction.tenant_id == tenant_id, CanvasAction.active_key == _key(import_id)
        )
    ).first()


def underway(tenant_id: int, job_ids: list[int]) -> dict[int, CanvasAction]:
    """The undo or stop under way for each of these jobs that has one, by job id."""
    if not job_ids:
        return {}
    found = db.session.scalars(
        select(CanvasAction).where(
            CanvasAction.tenant_id == tenant_id,
            CanvasAction.active_key.is_not(None),
            CanvasAction.job_id.in_(job_ids),
        )
    )
    return {action.job_id: action for action in found if action.job_id is not None}


def in_flight(tenant_id: int) -> bool:
    """Whether an undo or stop of the institution is under way (the mirror polls it at its
    active interval meanwhile)."""
    return bool(
        db.session.scalar(
            select(
                exists().where(
                    CanvasAction.tenant_id == tenant_id, CanvasAction.active_key.is_not(None)
                )
            )
        )
    )


def of_job(job_id: int) -> list[CanvasAction]:
    """Every undo and stop of a job, newest first (its Details window lists them)."""
    return list(
        db.session.scalars(
            select(CanvasAction)
            .where(CanvasAction.job_id == job_id)
            .order_by(CanvasAction.requested_at.desc(), CanvasAction.id.desc())
        )
    )


def queued_imports(tenant_id: int) -> int:
    """How many of the institution's imports Canvas has queued (not yet running), as last
    mirrored: the tab offers to stop them."""
    jobs = db.session.scalars(
        select(RosteringJob).where(
            RosteringJob.tenant_id == tenant_id,
            RosteringJob.canvas_sis_import_id.is_not(None),
            RosteringJob.status == "in_progress",
        )
    )
    states = ((canvas_imports.stored_import(job) or {}).get("workflow_state") for job in jobs)
    return sum(1 for state in states if state in QUEUED)


# -- asking -----------------------------------------------------------------------------------


def _key(import_id: int | None) -> str:
    return f"import:{import_id}" if import_id is not None else "queue"


def request(
    tenant_id: int,
    kind: str,
    *,
    by: str,
    by_user_id: str,
    job: RosteringJob | None = None,
    mode: str = "",
    batch_mode: bool = False,
) -> tuple[CanvasAction, bool]:
    """Store an admin's request (commits): the action, and whether it is new (False: one is
    under way for the same import, and that one is returned)."""
    if kind == ActionKind.RESTORE and mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    import_id = job.canvas_sis_import_id if job is not None else None
    action = CanvasAction(
        tenant_id=tenant_id,
        job_id=job.id if job is not None else None,
        import_id=import_id,
        kind=kind,
        mode=mode,
        batch_mode=batch_mode,
        requested_by=by,
        requested_by_user_id=by_user_id,
        requested_at=utcnow(),
        state=ActionState.PENDING,
        active_key=_key(import_id),
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(action)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = active_for(tenant_id, import_id)
        if existing is None:  # it ended in between: ask again
            return request(
                tenant_id, kind, by=by, by_user_id=by_user_id, job=job, mode=mode,
                batch_mode=batch_mode,
            )  # fmt: skip
        return existing, False
    return action, True


# -- the worker's part -------------------------------------------------------------------------


def claim(owner: str, limit: int = BATCH) -> list[CanvasAction]:
    """Lease the due actions to ``owner`` (``leases.take``)."""
    ids = leases.take(
        CanvasAction,
        owner,
        CanvasAction.state.in_(ActionState.ACTIVE),
        CanvasAction.next_attempt_at <= utcnow(),
        order_by=(CanvasAction.next_attempt_at, CanvasAction.id),
        limit=limit,
        seconds=current_app.config["CANVAS_LEASE_SECONDS"],
    )
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(CanvasAction)
            .where(CanvasAction.id.in_(ids), CanvasAction.lease_owner == owner)
            .order_by(CanvasAction.next_attempt_at, CanvasAction.id)
        )
    )


def release_all(owner: str) -> int:
    """Give back every action ``owner`` holds (a clean stop). Commits; how many."""
    return leases.release_all(CanvasAction, owner)


def tick(owner: str, doing: Callable[[str], None] = lambda _: None) -> bool:
    """One round of the worker's Canvas actions loop: each due action one step on. True when
    there was any."""
    doing("claiming undo and stop requests")
    due = claim(owner)
    for action in due:
        doing(f"{action.kind} of import {action.import_id} for tenant {action.tenant_id}")
        step(action)
    return bool(due)


def step(action: CanvasAction) -> None:
    """Take one action one step on (commits)."""
    connection = connections.for_tenant(action.tenant_id)
    if connection is None or connection.needs_reconnecting:
        _end(action, ActionState.FAILED, N_("The Canvas connection ended before Canvas acted."))
        return
    try:
        if connection.token_expires_at is not None and connection.token_expires_at <= utcnow():
            connections.refresh(connection)
        client = connections.client_for(connection)
        if action.state == ActionState.PENDING:
            _send(action, connection, client)
        elif action.state == ActionState.SENDING:
            _resume(action, connection, client)
        else:
            _follow(action, connection, client)
    except CanvasUnavailable:
        db.session.rollback()
        _retry_later(action)
    except CanvasError as exc:
        db.session.rollback()
        _refused(action, connection, exc)


def _send(action: CanvasAction, connection: CanvasConnection, client: CanvasClient) -> None:
    if action.kind == ActionKind.RESTORE and action.attempts and _undo_seen(action, client):
        _following(action)  # an earlier try reached Canvas after all
        return
    # Written before the PUT: a worker that dies after sending leaves the mark for the next.
    action.state = ActionState.SENDING
    action.attempts += 1
    db.session.commit()
    if action.kind == ActionKind.RESTORE:
        assert action.import_id is not None
        progress = client.restore_states(
            action.import_id, batch_mode=action.batch_mode, **_flags(action.mode)
        )
        action.progress_id = _int(progress.get("id"))
        action.completion = _float(progress.get("completion"))
        _following(action)
    elif action.kind == ActionKind.ABORT:
        assert action.import_id is not None
        _stopped(action, connection, [client.abort(action.import_id)])
    else:
        client.abort_all_pending()
        imports = canvas_imports.unfinished_import_ids(action.tenant_id)
        documents = [client.get_import(import_id) for import_id in imports]
        _stopped(action, connection, [d for d in documents if d.get("workflow_state") == "aborted"])


def _flags(mode: str) -> dict[str, bool]:
    flags = {"undelete_only": False, "unconclude_only": False}
    flags.update(MODES[mode])
    return flags


def _undo_seen(action: CanvasAction, client: CanvasClient) -> bool:
    """Whether Canvas is undoing, or has undone, the action's import."""
    assert action.import_id is not None
    state = str(client.get_import(action.import_id).get("workflow_state") or "")
    return state == "restoring" or state in FINAL_RESTORE


def _later(action: CanvasAction, seconds: float | None = None) -> None:
    """Look at the action again in ``seconds`` (CANVAS_ACTION_POLL_SECONDS), leased to none."""
    wait = current_app.config["CANVAS_ACTION_POLL_SECONDS"] if seconds is None else seconds
    action.next_attempt_at = utcnow() + timedelta(seconds=wait)
    action.lease_owner = action.lease_expires_at = None
    db.session.commit()


def _following(action: CanvasAction) -> None:
    action.state = ActionState.FOLLOWING
    _later(action)


def _resume(action: CanvasAction, connection: CanvasConnection, client: CanvasClient) -> None:
    """An action some worker marked ``sending`` and did not finish: never a second restore."""
    if action.kind != ActionKind.RESTORE:
        _send(action, connection, client)  # an abort again is harmless (404 once aborted)
    elif _undo_seen(action, client):
        log.info("undo of import %s: resumed by following the import", action.import_id)
        _following(action)
    elif utcnow() - as_utc(action.requested_at) > RESUME_WAIT:
        _end(
            action,
            ActionState.FAILED,
            N_(
                "Canvas did not confirm the undo. It was not sent again: look at the import "
                "in Canvas before asking again."
            ),
        )
    else:
        _later(action)  # Canvas may not have started it yet: look again


def _follow(action: CanvasAction, connection: CanvasConnection, client: CanvasClient) -> None:
    """Read the restore's Progress and the import; keep the job in step; end when both
    have."""
    assert action.import_id is not None
    progress = client.progress(action.progress_id) if action.progress_id else None
    document = client.get_import(action.import_id)
    store(connection, [document])
    job = _job(action)
    state = str(document.get("workflow_state") or "")
    progress_state = str((progress or {}).get("workflow_state") or "")
    if progress is not None:
        action.completion = _float(progress.get("completion"))
        if job is not None and action.completion is not None:
            canvas_imports.show_restore_progress(job, action.completion)
    if progress_state == "failed":
        message = (progress or {}).get("message") or "the undo did not finish"
        _end(action, ActionState.FAILED, N_("Canvas refused: %(canvas)s"), canvas=str(message))
        return
    if state in FINAL_RESTORE and progress_state in ("", "completed"):
        action.restored = _restored_counts(document)
        facts = {
            "by": action.requested_by,
            "mode": action.mode,
            "batch_mode": action.batch_mode,
            "import_id": action.import_id,
            "restored": action.restored,
        }
        if job is not None:
            record_event(job, RESTORED, facts)
        _end(action, ActionState.DONE, "")
        return
    _following(action)


def _restored_counts(document: dict[str, Any]) -> dict[str, int]:
    """Canvas's ``restored`` counts of an undone import, by the CSV files' names."""
    statistics = (document.get("data") or {}).get("statistics") or {}
    counts = {}
    for model, stats in statistics.items():
        if isinstance(stats, dict) and _int(stats.get("restored")):
            counts[OBJECT_NAMES.get(model, model.lower())] = _int(stats.get("restored")) or 0
    return counts


def _stopped(
    action: CanvasAction, connection: CanvasConnection, documents: list[dict[str, Any]]
) -> None:
    """Canvas stopped these imports: their jobs end as Canvas says (Failed), "Stopped by …"."""
    store(connection, documents)
    stopped = {d.get("id") for d in documents}
    for job in db.session.scalars(
        select(RosteringJob).where(
            RosteringJob.tenant_id == action.tenant_id,
            RosteringJob.canvas_sis_import_id.in_([i for i in stopped if isinstance(i, int)]),
        )
    ):
        canvas_imports.add_note(job, STOPPED_BY % {"name": action.requested_by})
    _end(action, ActionState.DONE, "")


def _job(action: CanvasAction) -> RosteringJob | None:
    return db.session.get(RosteringJob, action.job_id) if action.job_id is not None else None


def _refused(action: CanvasAction, connection: CanvasConnection, exc: CanvasError) -> None:
    """Canvas said no: the action ends with the reason in plain words."""
    if isinstance(exc, ScopeMissing):
        connection.actions_scope_missing = True
        can_connect = connections.api_key_for(connection.base_url) is not None
        _end(action, ActionState.FAILED, RECONNECT if can_connect else RECONNECT_BY_OPERATOR)
    elif isinstance(exc, NotPermitted):
        _end(
            action,
            ActionState.FAILED,
            N_(
                "Canvas refused: the Canvas user this connection was made with (%(name)s) "
                "does not have the permission (%(canvas)s)."
            ),
            name=connection.connected_by,
            canvas=str(exc),
        )
    elif isinstance(exc, NotFound) and action.kind == ActionKind.ABORT:
        _end(action, ActionState.FAILED, N_("Canvas says this import had already finished."))
    elif isinstance(exc, TokenRejected):
        _end(action, ActionState.FAILED, N_("Canvas no longer accepts this connection's token."))
    elif isinstance(exc, NotFound | ActionRefused):
        _end(action, ActionState.FAILED, N_("Canvas refused: %(canvas)s"), canvas=str(exc))
    else:
        _end(action, ActionState.FAILED, N_("Canvas refused: %(canvas)s"), canvas=str(exc))


def _retry_later(action: CanvasAction) -> None:
    """Canvas did not answer (5xx, 429, timeouts, after the client's own tries): again later,
    for CANVAS_ACTION_RETRY_MINUTES."""
    config = current_app.config
    if utcnow() - as_utc(action.requested_at) > timedelta(
        minutes=config["CANVAS_ACTION_RETRY_MINUTES"]
    ):
        _end(action, ActionState.FAILED, N_("Canvas did not answer; nothing more will be tried."))
        return
    if action.state == ActionState.SENDING:
        # Every try of the PUT failed: sent again later (a restore looks at the import first).
        action.state = ActionState.PENDING
    wait = min(config["CANVAS_BACKOFF_SECONDS"] * 2 ** min(action.attempts, 10), 300.0)
    _later(action, wait * random.uniform(0.8, 1.2))  # noqa: S311 (jitter)


def _end(action: CanvasAction, state: str, outcome: str, **values: str) -> None:
    """End the action with its outcome: a sentence of the tool's (translated when shown) and
    the values it names (Canvas's own words among them, as Canvas sent them)."""
    action.state = state
    action.outcome = outcome
    action.outcome_values = {key: value[:500] for key, value in values.items()} or None
    action.active_key = None
    action.finished_at = utcnow()
    action.lease_owner = action.lease_expires_at = None
    db.session.commit()
    log.info(
        "%s of import %s for tenant %s: %s %s",
        action.kind, action.import_id, action.tenant_id, state, outcome % values,
    )  # fmt: skip


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
