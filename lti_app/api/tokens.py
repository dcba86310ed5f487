"""Bearer tokens for SIS agents: shown once, stored as a hash, bound to one tenant."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ..extensions import db, in_autocommit
from ..lti.models import Tenant
from ..timeutil import utcnow
from .models import ApiToken

PREFIX = "sisi_"
MAX_LIVE = 20  # live tokens an institution may have at once

F = TypeVar("F", bound=Callable[..., Any])


class Unauthorized(Exception):
    """No token, or one that is unknown or revoked: 401."""


class TooMany(Exception):
    """The institution has MAX_LIVE live tokens already: revoke one first."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def live_count(tenant_id: int) -> int:
    """How many live tokens the institution has."""
    return db.session.scalar(
        select(func.count()).where(ApiToken.tenant_id == tenant_id, ApiToken.revoked_at.is_(None))
    ) or 0


def create(tenant: Tenant, name: str, created_by: str = "") -> tuple[ApiToken, str]:
    """A new token for the tenant (commits); the plain token is returned once and never
    stored. ``TooMany`` when it has MAX_LIVE live tokens."""
    if live_count(tenant.id) >= MAX_LIVE:
        raise TooMany(f"at most {MAX_LIVE} live tokens per institution")
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        tenant=tenant, name=name, token_hash=_hash(plain), prefix=plain[:12], created_by=created_by
    )
    db.session.add(token)
    db.session.commit()
    return token, plain


def list_tokens(tenant: Tenant) -> list[ApiToken]:
    """The tenant's tokens, revoked ones included, oldest first."""
    stmt = select(ApiToken).where(ApiToken.tenant_id == tenant.id).order_by(ApiToken.id)
    return list(db.session.scalars(stmt))


def live(tenant_id: int, token_id: int) -> ApiToken | None:
    """One of the tenant's live tokens; None for another's, a revoked one, or none."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.tenant_id != tenant_id or token.revoked_at is not None:
        return None
    return token


def revoke(tenant: Tenant, token_id: int) -> bool:
    """Revoke one of the tenant's tokens (commits); False if there is no such live token.
    Every worker refuses it from its next request: each request looks its token up."""
    token = live(tenant.id, token_id)
    if token is None:
        return False
    token.revoked_at = utcnow()
    db.session.commit()
    return True


def authenticate(plain: str | None) -> ApiToken:
    """The live token a request presents; raises ``Unauthorized`` otherwise."""
    if not plain:
        raise Unauthorized("missing bearer token")
    stmt = (
        select(ApiToken)
        .options(joinedload(ApiToken.tenant))
        .where(ApiToken.token_hash == _hash(plain), ApiToken.revoked_at.is_(None))
    )
    token = db.session.scalars(stmt).first()
    if token is None:
        raise Unauthorized("unknown or revoked token")
    _note_use(token)
    return token


def _note_use(token: ApiToken) -> None:
    """Keep when the token was last used, to the minute: one guarded UPDATE (and commit) a
    minute at most, never a write per request. A GET reads without a transaction
    (``reads_only``), where the UPDATE is written as it runs: a commit there would end the
    request's autocommit, and the rest of it would read in a transaction after all."""
    minute = utcnow().replace(second=0, microsecond=0)
    if token.last_used_at is not None and token.last_used_at >= minute:
        return
    db.session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token.id,
            or_(ApiToken.last_used_at.is_(None), ApiToken.last_used_at < minute),
        )
        .values(last_used_at=minute)
        .execution_options(synchronize_session=False)
    )
    if in_autocommit():
        # Written already; the session's token says so without marking it changed.
        set_committed_value(token, "last_used_at", minute)
    else:
        db.session.commit()


def require_token(view: F) -> F:
    """Admit a request with a live bearer token; sets ``g.api_token`` (and so the tenant)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        auth = request.authorization
        plain = auth.token if auth is not None and auth.type == "bearer" else None
        g.api_token = authenticate(plain)
        g.pop("launch", None)  # one identity a request: this one acts for the agent
        return view(*args, **kwargs)

    return cast(F, wrapper)
