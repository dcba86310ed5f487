"""Leased rows: work a worker holds for a while (a Canvas connection, an alert delivery, an undo
or stop) so that no two workers do it at once. Such a row has ``lease_owner`` and
``lease_expires_at``. A lease left by a dead worker expires; a lease held by the worker asking
counts as free for it, so a round that failed before it could give its work back (the database
went away) takes it up again at once, not a lease later."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update

from .extensions import db, rowcount
from .timeutil import utcnow


def free(model: Any, owner: str, now: datetime) -> ColumnElement[bool]:
    """Rows nobody holds now, or ``owner`` holds already."""
    return or_(
        model.lease_expires_at.is_(None),
        model.lease_expires_at < now,
        model.lease_owner == owner,
    )


def take(
    model: Any, owner: str, *due: ColumnElement[bool], order_by: Any, limit: int, seconds: float
) -> list[int]:
    """Lease up to ``limit`` rows of ``model`` that ``due`` selects to ``owner`` for ``seconds``,
    in ``order_by`` order; their ids (commits). Two workers never hold the same row: the guarded
    UPDATE re-checks each, and PostgreSQL's ``FOR UPDATE SKIP LOCKED`` keeps them apart."""
    now = utcnow()
    chosen = select(model.id).where(*due, free(model, owner, now)).order_by(*order_by).limit(limit)
    if db.engine.dialect.name == "postgresql":
        chosen = chosen.with_for_update(skip_locked=True)
    ids: list[int] = list(db.session.scalars(chosen))
    if ids:
        db.session.execute(
            update(model)
            .where(model.id.in_(ids), free(model, owner, now))
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return ids


def release_all(model: Any, owner: str) -> int:
    """Give back every row of ``model`` that ``owner`` holds (a clean stop). Commits; how many."""
    result = db.session.execute(
        update(model)
        .where(model.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return rowcount(result)
