"""Connections to Canvas and the API keys behind them: made, read, ended. Secrets go in and
out of the database only through ``crypto``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import delete, select

from .. import crypto
from ..extensions import db, rowcount
from ..lti.models import Tenant
from ..timeutil import utcnow
from . import error_rows, oauth
from .client import CanvasClient, TokenRejected
from .models import CanvasApiKey, CanvasConnection, ConnectionState


def normalise_base_url(url: str) -> str:
    """A Canvas base URL as stored: no trailing slash, no /api/v1."""
    return url.strip().rstrip("/").removesuffix("/api/v1").rstrip("/")


def api_key_for(base_url: str) -> CanvasApiKey | None:
    """The operator-registered API key of a Canvas, if any."""
    if not base_url:
        return None
    return db.session.scalars(
        select(CanvasApiKey).where(CanvasApiKey.base_url == normalise_base_url(base_url))
    ).first()


def add_api_key(base_url: str, client_id: str, client_secret: str) -> CanvasApiKey:
    """Register (or replace) the API developer key of a Canvas."""
    key = api_key_for(base_url) or CanvasApiKey(base_url=normalise_base_url(base_url))
    key.client_id = client_id
    key.client_secret_encrypted = crypto.encrypt(client_secret)
    db.session.add(key)
    db.session.commit()
    return key


def remove_api_key(base_url: str) -> bool:
    """Forget a Canvas's API key; connections made with it keep their tokens until revoked."""
    result = db.session.execute(
        delete(CanvasApiKey).where(CanvasApiKey.base_url == normalise_base_url(base_url))
    )
    db.session.commit()
    return bool(rowcount(result))


def for_tenant(tenant_id: int) -> CanvasConnection | None:
    """The tenant's connection to Canvas, if it has one."""
    return db.session.scalars(
        select(CanvasConnection).where(CanvasConnection.tenant_id == tenant_id)
    ).first()


def connect(
    tenant: Tenant,
    *,
    base_url: str,
    account_id: str,
    method: str,
    access_token: str,
    refresh_token: str | None = None,
    expires_at: datetime | None = None,
    connected_by: str,
) -> CanvasConnection:
    """Connect (or reconnect) the tenant. Reconnecting to the same Canvas account keeps the
    mirror's place; another Canvas or account starts the history over."""
    base_url = normalise_base_url(base_url)
    connection = for_tenant(tenant.id)
    if connection is None or (connection.base_url, connection.account_id) != (
        base_url,
        account_id,
    ):
        if connection is not None:
            db.session.delete(connection)
            db.session.flush()
        connection = CanvasConnection(tenant_id=tenant.id, backfill_done=False)
        db.session.add(connection)
    connection.base_url = base_url
    connection.account_id = account_id
    connection.method = method
    connection.access_token_encrypted = crypto.encrypt(access_token)
    connection.refresh_token_encrypted = crypto.encrypt(refresh_token) if refresh_token else None
    connection.token_expires_at = expires_at
    connection.connected_by = connected_by
    connection.connected_at = utcnow()
    connection.state = ConnectionState.ACTIVE
    connection.problem = ""
    connection.errors_scope_missing = False
    connection.actions_scope_missing = False
    connection.next_poll_at = utcnow()
    db.session.commit()
    return connection


def disconnect(tenant_id: int) -> bool:
    """End the tenant's connection; its tokens are deleted, its mirrored jobs stay (and the
    rows still to read of their imports are not waited for)."""
    error_rows.abandon(tenant_id)
    result = db.session.execute(
        delete(CanvasConnection).where(CanvasConnection.tenant_id == tenant_id)
    )
    db.session.commit()
    return bool(rowcount(result))


def store_tokens(
    connection: CanvasConnection, access_token: str, expires_at: datetime | None
) -> None:
    """Keep a refreshed access token."""
    connection.access_token_encrypted = crypto.encrypt(access_token)
    connection.token_expires_at = expires_at
    db.session.commit()


def needs_reconnecting(connection: CanvasConnection, problem: str) -> None:
    """Stop polling the connection until an admin connects again."""
    connection.state = ConnectionState.NEEDS_RECONNECTING
    connection.problem = problem
    db.session.commit()


def client_for(connection: CanvasConnection) -> CanvasClient:
    """A client of the connection's Canvas account, with its token."""
    return CanvasClient(
        connection.base_url,
        crypto.decrypt(connection.access_token_encrypted),
        connection.account_id,
        config=current_app.config,
    )


def refresh(connection: CanvasConnection) -> bool:
    """Trade the refresh token of an OAuth connection for a new access token (commits);
    False when there is none to trade, or Canvas refuses it."""
    key = api_key_for(connection.base_url)
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
    store_tokens(connection, tokens.access_token, tokens.expires_at)
    return True


@dataclass(frozen=True)
class TabStatus:
    """What the Rostering tab says about Canvas: the connection, or whether one can be made."""

    connection: CanvasConnection | None
    can_connect: bool  # an API key is registered for this institution's Canvas
