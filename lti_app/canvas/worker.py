"""Who polls: any number of workers, on any hosts, share the connections through the
database. A worker leases one institution at a time (a guarded UPDATE decides, and PostgreSQL's
``FOR UPDATE SKIP LOCKED`` keeps workers off each other's rows); a lease left by a dead worker
expires. The most overdue institution goes first, so none is starved."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import or_, select, update

from .. import crypto, metrics
from ..extensions import db
from ..i18n import N_
from ..timeutil import utcnow
from . import connections, oauth
from .client import AccountRefused, CanvasClient, CanvasError, TokenRejected
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


def _free(now: object) -> object:
    return or_(CanvasConnection.lease_expires_at.is_(None), CanvasConnection.lease_expires_at < now)


def claim(owner: str, *, not_polled_since: datetime | None = None) -> CanvasConnection | None:
    """Lease the most overdue free connection to ``owner``; None when there is none. Due
    connections, or with ``not_polled_since``, every one no worker has polled since then."""
    now = utcnow()
    stmt = select(CanvasConnection.id).where(
        _free(now), CanvasConnection.state == ConnectionState.ACTIVE
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
            .where(CanvasConnection.id == connection_id, _free(now))
            .values(lease_owner=owner, lease_expires_at=lease_until)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
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
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise LeaseLost(f"connection {connection.id} was taken over")


def _client(connection: CanvasConnection) -> CanvasClient:
    return CanvasClient(
        connection.base_url,
        crypto.decrypt(connection.access_token_encrypted),
        connection.account_id,
        config=current_app.config,
    )


def _refreshed(connection: CanvasConnection) -> bool:
    """Trade the refresh token of an OAuth connection for a new access token; False when
    there is none to trade, or Canvas refuses it."""
    key = connections.api_key_for(connection.base_url)
    if connection.method != "oauth" or not connection.refresh_token_encrypted or key is None:
        return False
    try:
        tokens = oauth.refresh(
            connection.base_url,
            key.client_id,
            crypto.decrypt(key.client_secret_encrypted),
            crypto.decrypt(connection.refresh_token_encrypted),
        )
    except TokenRejected:
        return False
    connections.store_tokens(connection, tokens.access_token, tokens.expires_at)
    return True


def _poll_with_refresh(connection: CanvasConnection, owner: str) -> PollResult:
    renew = lambda: _renew(connection, owner)  # noqa: E731
    expired = connection.token_expires_at is not None and connection.token_expires_at <= utcnow()
    if expired and _refreshed(connection):
        return poll(connection, _client(connection), renew)
    try:
        return poll(connection, _client(connection), renew)
    except TokenRejected:
        db.session.rollback()
        if not _refreshed(connection):
            raise
    # Refreshed once; a second 401 means the grant itself is gone.
    return poll(connection, _client(connection), renew)


def poll_one(connection: CanvasConnection, owner: str) -> str:
    """Poll a leased connection, then release it with its next turn. Returns the outcome."""
    config = current_app.config
    next_in = config["CANVAS_POLL_IDLE_SECONDS"]
    started = time.monotonic()
    try:
        result = _poll_with_refresh(connection, owner)
        outcome = f"ok: {result.changed} job(s) changed"
        connection.problem = ""
        if result.running:
            next_in = config["CANVAS_POLL_ACTIVE_SECONDS"]
    except LeaseLost as exc:
        db.session.rollback()
        log.warning("%s", exc)
        metrics.CANVAS_POLLS.labels("lease lost").inc()
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
    db.session.commit()
    db.session.execute(
        update(CanvasConnection)
        .where(CanvasConnection.id == connection.id, CanvasConnection.lease_owner == owner)
        .values(lease_owner=None, lease_expires_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    metrics.CANVAS_POLLS.labels(outcome.split(":")[0]).inc()
    log.info(
        "polled Canvas for tenant %s in %.2f s: %s",
        connection.tenant_id,
        time.monotonic() - started,
        outcome,
    )
    return outcome


def poll_all(owner: str) -> dict[int, str]:
    """One pass over every connection (for cron); one that another worker holds or polled
    during the pass is left to it."""
    outcomes: dict[int, str] = {}
    started = utcnow()
    while (connection := claim(owner, not_polled_since=started)) is not None:
        outcomes[connection.id] = poll_one(connection, owner)
    return outcomes


def run_forever(owner: str, stop: threading.Event, idle_sleep: float = 5.0) -> None:
    """Poll whatever is due until ``stop`` is set."""
    while not stop.is_set():
        try:
            connection = claim(owner)
        except Exception:  # the database is away: wait and try again
            log.exception("could not claim a Canvas connection")
            db.session.rollback()
            stop.wait(idle_sleep)
            continue
        if connection is None:
            stop.wait(idle_sleep)
            continue
        try:
            poll_one(connection, owner)
        except Exception:
            log.exception("polling Canvas for tenant %s failed", connection.tenant_id)
            db.session.rollback()
