"""Who did what: the activity trail of each institution.

Every change to an institution's data or settings, by an admin in the tab, an SIS agent's token
or the operator's command line, adds one ``Activity`` row in the transaction of the change
(``record`` adds it to the session; the change's own commit writes both, or neither). A refusal
of an admin's action is recorded too (``denied``, with the action tried). An agent's job writes
are the history itself and are not repeated here. No secret, token or webhook URL is ever put in
a row. Rows are kept ACTIVITY_KEEP_DAYS (the worker's daily housekeeping removes older ones;
nothing else updates or deletes one).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import current_app, g, has_request_context
from sqlalchemy import Select, and_, or_, select, tuple_

from ..extensions import db, delete_in_batches
from ..lti.models import Launch
from ..rostering import writing
from ..timeutil import as_utc, utcnow
from .models import Activity, ActorKind

PAGE = 50
OPERATOR = "operator (command line)"
DENIED = "denied"


@dataclass(frozen=True)
class Actor:
    """Who is acting, as a row names them."""

    kind: str
    name: str
    id: str = ""
    acting_as: str = ""


def actor_of(launch: Launch) -> Actor:
    """A launch's admin; when they act as someone else in Canvas, the real user (Canvas sends
    only their id), acting as the launch's user."""
    if launch.masquerading_user_id:
        return Actor(
            ActorKind.PERSON,
            f"Canvas user {launch.masquerading_user_id}",
            launch.masquerading_user_id,
            acting_as=f"{launch.user_name} ({launch.user_id})",
        )
    return Actor(ActorKind.PERSON, launch.user_name, launch.user_id)


def current_actor() -> Actor:
    """The admin of the request's launch, the agent's token, or, outside a request, the
    operator."""
    if has_request_context() and "launch" in g:
        return actor_of(g.launch)
    if has_request_context() and "api_token" in g:
        token = g.api_token
        return Actor(ActorKind.TOKEN, token.name, str(token.id))
    return Actor(ActorKind.OPERATOR, OPERATOR)


def record(
    tenant_id: int,
    action: str,
    *,
    subject: str = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    tried: str = "",
    actor: Actor | None = None,
) -> Activity:
    """Add a row for ``action`` to the session: the change's commit writes it."""
    who = actor or current_actor()
    row = Activity(
        tenant_id=tenant_id,
        at=utcnow(),
        actor_kind=who.kind,
        actor=who.name[:255],
        actor_id=who.id[:255],
        acting_as=who.acting_as[:255],
        action=action,
        tried=tried,
        subject=subject[:255],
        before=before,
        after=after,
        request_id=str(g.get("request_id", "")) if has_request_context() else "",
    )
    db.session.add(row)
    if _newsworthy(action, before, after):
        writing.record_news(
            tenant_id,
            {"change": action, "by": row.actor, "acting_as": row.acting_as, "subject": row.subject,
             "before": before, "after": after},
        )  # fmt: skip
    return row


def _newsworthy(action: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    """Whether a change weakens a safeguard or opens a door (``settings.changed``): the change
    guard turned off or loosened (an allowance too), a webhook or an agent token made, Canvas
    disconnected."""
    if action == "guard.changed" and before and after:
        turned_off = before.get("enabled") and not after.get("enabled")
        loosened = after.get("enabled") and (
            after.get("percent", 0) > before.get("percent", 0)
            or after.get("count", 0) > before.get("count", 0)
        )
        return bool(turned_off or loosened)
    if action == "alerts.recipient_added":
        return (after or {}).get("channel") not in (None, "email")
    return action in ("token.created", "canvas.disconnected", "guard.allowance_set")


def denied(tenant_id: int, tried: str) -> None:
    """Record a refused action (commits: the refusal changed nothing else)."""
    record(tenant_id, DENIED, tried=tried)
    db.session.commit()


# -- reading ----------------------------------------------------------------------------------


@dataclass
class Page:
    """A page of an institution's activity, newest first, with the keys of its neighbours."""

    rows: list[Activity]
    newer: str | None  # the ``before`` of the previous page (None: this is the first)
    older: str | None  # the ``after`` of the next page (None: this is the last)


def _key(row: Activity) -> str:
    raw = json.dumps([as_utc(row.at).isoformat(), row.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _unkey(value: str | None) -> tuple[datetime, int] | None:
    if not value:
        return None
    try:
        at, row_id = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
        return as_utc(datetime.fromisoformat(at)), int(row_id)
    except (ValueError, TypeError):
        return None


def _narrowed(tenant_id: int, action: str, person: str) -> Select[Activity]:
    stmt = select(Activity).where(Activity.tenant_id == tenant_id)
    if action:
        stmt = stmt.where(or_(Activity.action == action, Activity.tried == action))
    if person:
        stmt = stmt.where(Activity.actor == person)
    return stmt


def page(
    tenant_id: int, *, action: str = "", person: str = "", after: str | None = None,
    before: str | None = None,
) -> Page:  # fmt: skip
    """A page of 50 rows, newest first, by keyset on (at, id): ``after`` a row's key for the
    next page, ``before`` one for the previous. A key that is not one is the first page."""
    stmt = _narrowed(tenant_id, action, person)
    position = tuple_(Activity.at, Activity.id)
    older_than, newer_than = _unkey(after), _unkey(before)
    if newer_than is not None:
        rows = list(
            db.session.scalars(
                stmt.where(position > newer_than)
                .order_by(Activity.at, Activity.id)
                .limit(PAGE + 1)
            )
        )
        more_newer = len(rows) > PAGE
        rows = list(reversed(rows[:PAGE]))
        return Page(rows, _key(rows[0]) if more_newer and rows else None,
                    _key(rows[-1]) if rows else None)  # fmt: skip
    if older_than is not None:
        stmt = stmt.where(position < older_than)
    rows = list(
        db.session.scalars(
            stmt.order_by(Activity.at.desc(), Activity.id.desc()).limit(PAGE + 1)
        )
    )
    more_older = len(rows) > PAGE
    rows = rows[:PAGE]
    return Page(
        rows,
        _key(rows[0]) if older_than is not None and rows else None,
        _key(rows[-1]) if more_older else None,
    )


def choices(tenant_id: int) -> tuple[list[str], list[str]]:
    """The actions (done or tried) and the people of the institution's trail, for its
    filters."""
    mine = Activity.tenant_id == tenant_id
    actions = set(db.session.scalars(select(Activity.action).where(mine).distinct()))
    actions |= set(
        db.session.scalars(select(Activity.tried).where(mine, Activity.tried != "").distinct())
    )
    people = db.session.scalars(select(Activity.actor).where(mine).distinct())
    return sorted(actions), sorted(people)


def every(tenant_id: int | None, *, since: datetime | None = None, action: str = "",
          person: str = "", batch: int = 1000) -> Iterator[Activity]:  # fmt: skip
    """Every row (of one institution, or all), oldest first, read in batches."""
    stmt: Select[Activity] = select(Activity)
    if tenant_id is not None:
        stmt = _narrowed(tenant_id, action, person)
    if since is not None:
        stmt = stmt.where(Activity.at >= since)
    last: tuple[datetime, int] | None = None
    while True:
        chunk = stmt if last is None else stmt.where(
            or_(Activity.at > last[0], and_(Activity.at == last[0], Activity.id > last[1]))
        )
        rows = list(db.session.scalars(chunk.order_by(Activity.at, Activity.id).limit(batch)))
        yield from rows
        if len(rows) < batch:
            return
        last = (rows[-1].at, rows[-1].id)


def document(row: Activity) -> dict[str, Any]:
    """A row as JSON (the operator's export, a line each)."""
    return {
        "at": as_utc(row.at).isoformat(),
        "tenant_id": row.tenant_id,
        "actor_kind": row.actor_kind,
        "actor": row.actor,
        "actor_id": row.actor_id,
        "acting_as": row.acting_as,
        "action": row.action,
        "tried": row.tried,
        "subject": row.subject,
        "before": row.before,
        "after": row.after,
        "request_id": row.request_id,
    }


def purge(now: datetime | None = None, batch: int = 1000) -> int:
    """Remove rows older than ACTIVITY_KEEP_DAYS, a batch a transaction; how many. The only
    code path that deletes activity."""
    keep = timedelta(days=current_app.config["ACTIVITY_KEEP_DAYS"])
    return delete_in_batches(Activity, Activity.at < (now or utcnow()) - keep, batch=batch)
