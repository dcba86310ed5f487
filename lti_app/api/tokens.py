"""Bearer tokens for SIS agents: shown once, stored as a hash, bound to one tenant."""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..lti.models import Tenant
from ..timeutil import utcnow
from .models import ApiToken

PREFIX = "sisi_"

F = TypeVar("F", bound=Callable[..., Any])


class Unauthorized(Exception):
    """No token, or one that is unknown or revoked: 401."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create(tenant: Tenant, name: str) -> tuple[ApiToken, str]:
    """A new token for the tenant; the plain token is returned once and never stored."""
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(tenant=tenant, name=name, token_hash=_hash(plain), prefix=plain[:12])
    db.session.add(token)
    db.session.commit()
    return token, plain


def list_tokens(tenant: Tenant) -> list[ApiToken]:
    """The tenant's tokens, revoked ones included, oldest first."""
    stmt = select(ApiToken).where(ApiToken.tenant_id == tenant.id).order_by(ApiToken.id)
    return list(db.session.scalars(stmt))


def revoke(tenant: Tenant, token_id: int) -> bool:
    """Revoke one of the tenant's tokens; False if there is no such live token."""
    token = db.session.get(ApiToken, token_id)
    if token is None or token.tenant_id != tenant.id or token.revoked_at is not None:
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
    return token


def require_token(view: F) -> F:
    """Admit a request with a live bearer token; sets ``g.api_token`` (and so the tenant)."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        auth = request.authorization
        plain = auth.token if auth is not None and auth.type == "bearer" else None
        g.api_token = authenticate(plain)
        return view(*args, **kwargs)

    return cast(F, wrapper)
