"""Who polls: any number of workers, on any hosts, share the connections through the
database. A worker leases one institution at a time (a guarded UPDATE decides, and PostgreSQL's
``FOR UPDATE SKIP LOCKED`` keeps workers off each other's rows); a lease left by a dead worker
expires. The most overdue institution goes first, so none is starved."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from .. import counters, crypto, leases
from ..extensions import db, rowcount
from ..i18n import N_
from ..timeutil import utcnow
from . import actions, connections
from .client import AccountRefused, CanvasError, TokenRejected
from .mirror import PollResult, poll
from .models import CanvasConnection, ConnectionState

log = logging.getLogger(__name__)
RECONNECT = N_("Canvas no longer accepts this connection's token. Connect to Canvas again.")
# A connection made by the operator's command, where no API key lets an admin connect from the
# tab: say who can renew it, rather than ask for a button the tab does not have.
RENEW_BY_OPERATOR = N_(
    "Canvas no longer accepts the token this connection was made with. Ask your SIS "
    "Integration operator to renew it (flask canvas connect)."
)


class LeaseLost(Exception):
    """Another worker took the institution over (this one was too slow to renew)."""


def worker_name() -> str:
    """A name for this worker's leases: host, process and a random part."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(owner: str, *, not_polled_since: datetime | None = None) -> CanvasConnection | None:
    """Lease the most overdue free connection (or one ``owner`` holds already) to ``owner``;
    None when there is none. Due connections, or with ``not_polled_since``, every one no
    worker has polled since then."""
    now = utcnow()
    stmt = select(CanvasConnection.id).where(
        leases.free(CanvasConnection, owner, now), CanvasConnection.state == ConnectionState.ACTIVE
    )
    if not_polled_since is None:
        stmt = stmt.where(CanvasConnection.next_poll_at <= now)
    else:
        stmt = stmt.where(
            or_(
                CanvasConnection.last_poll_at.is_(None),
                CanvasConnection.last_poll_at < not_polled_since,
            )
        )
    stmt = stmt.order_by(CanvasConnection.next_poll_at, CanvasConnection.id).limit(5)
    if db.engine.dialect.name == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True)
    lease_until = now + timedelta(seconds=current_app.config["CANVAS_LEASE_SECONDS"])
    for connection_id in db.session.scalars(stmt).all():
        result = db.session.execute(
            update(CanvasConnection)
            .where(CanvasConnection.id == connection_id, leases.free(CanvasConnection, owner, now))
            .values(lease_owner=owner, lease_expires_at=lease_until)
        )
        if rowcount(result) == 1:
            db.session.commit()
            return db.session.get(CanvasConnection, connection_id, populate_existing=True)
    db.session.commit()
    return None


def _renew(connection: CanvasConnection, owner: str) -> None:
    lease_until = utcnow() + timedelta(seconds=current_app.config["CANVAS_LEASE_SECONDS"])
    result = db.session.execute(
        update(CanvasConnection)
        .where(CanvasConnection.id == connection.id, CanvasConnection.lease_owner == owner)
        .values(lease_expires_at=lease_until)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if rowcount(result) != 1:
        raise LeaseLost(f"connection {connection.id} was taken over")


def _poll_with_refresh(connection: CanvasConnection, owner: str) -> PollResult:
    renew = lambda: _renew(connection, owner)  # noqa: E731
    expired = connection.token_expires_at is not None and connection.token_expires_at <= utcnow()
    if expired and connections.refresh(connection):
        return poll(connection, connections.client_for(connection), renew)
    try:
        return poll(connection, connections.client_for(connection), renew)
    except TokenRejected:
        db.session.rollback()
        if not connections.refresh(connection):
            raise
    # Refreshed once; a second 401 means the grant itself is gone.
    return poll(connection, connections.client_for(connection), renew)


def poll_one(connection: CanvasConnection, owner: str) -> str:
    """Poll a leased connection, then release it with its next turn. Returns the outcome. A
    fault outside Canvas (the database going away) gives the institution back if it can and
    raises; nothing it logs needs the database."""
    connection_id, tenant_id = connection.id, connection.tenant_id
    started = time.monotonic()
    try:
        outcome = _poll_and_release(connection, owner)
    except BaseException:
        _give_back(connection_id, owner)
        raise
    counters.CANVAS_POLLS.labels(outcome.split(":")[0]).inc()
    log.info(
        "polled Canvas for tenant %s in %.2f s: %s",
        tenant_id,
        time.monotonic() - started,
        outcome,
    )
    return outcome


def _poll_and_release(connection: CanvasConnection, owner: str) -> str:
    config = current_app.config
    next_in = config["CANVAS_POLL_IDLE_SECONDS"]
    try:
        result = _poll_with_refresh(connection, owner)
        outcome = f"ok: {result.changed} job(s) changed"
        connection.problem = ""
        if result.running or actions.in_flight(connection.tenant_id):
            next_in = config["CANVAS_POLL_ACTIVE_SECONDS"]
    except LeaseLost as exc:
        db.session.rollback()
        log.warning("%s", exc)
        return "lease lost"
    except (TokenRejected, crypto.SecretUnreadable):
        db.session.rollback()
        can_connect = connections.api_key_for(connection.base_url) is not None
        connections.needs_reconnecting(connection, RECONNECT if can_connect else RENEW_BY_OPERATOR)
        outcome = "needs reconnecting"
    except AccountRefused as exc:
        db.session.rollback()
        connection.problem = str(exc)
        outcome = f"refused: {exc}"
    except CanvasError as exc:
        db.session.rollback()
        outcome = f"failed: {exc}"
        next_in = config["CANVAS_POLL_ACTIVE_SECONDS"]
    now = utcnow()
    connection.last_poll_at = now
    connection.last_outcome = outcome[:255]
    connection.next_poll_at = now + timedelta(seconds=next_in)
    db.session.flush()
    # The next turn and the release in one transaction: no moment holds one without the other.
    _release(connection.id, owner)
    db.session.commit()
    return outcome


def _release(connection_id: int, owner: str) -> None:
    db.session.execute(
        update(CanvasConnection)
        .where(CanvasConnection.id == connection_id, CanvasConnection.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )


def _give_back(connection_id: int, owner: str) -> None:
    """Release a connection after a failed round, if the database lets us (if not, claim()
    hands it back to this worker)."""
    try:
        db.session.rollback()
        _release(connection_id, owner)
        db.session.commit()
    except Exception:  # the database is away: nothing more to do here
        log.warning("could not release Canvas connection %s after a failed poll", connection_id)
        with contextlib.suppress(Exception):
            db.session.rollback()


def release_all(owner: str) -> int:
    """Give back every connection ``owner`` holds (a clean stop). Commits; how many."""
    return leases.release_all(CanvasConnection, owner)


def poll_all(owner: str) -> dict[int, str]:
    """One pass over every connection (for cron); one that another worker holds or polled
    during the pass is left to it."""
    outcomes: dict[int, str] = {}
    started = utcnow()
    while (connection := claim(owner, not_polled_since=started)) is not None:
        outcomes[connection.id] = poll_one(connection, owner)
    return outcomes


def poll_due(owner: str, doing: Callable[[str], None] = lambda _: None) -> bool:
    """One round of the worker's Canvas loop: poll the most overdue connection. False when
    none was due. ``doing`` is told what the round is at, for the log if it fails."""
    doing("claiming a Canvas connection")
    connection = claim(owner)
    if connection is None:
        return False
    doing(f"polling Canvas for tenant {connection.tenant_id} (connection {connection.id})")
    poll_one(connection, owner)
    return True
