"""The tool's own RSA keys: created on first need, rotated by command, published as a JWKS."""

from __future__ import annotations

import functools
import json
from typing import Any

from jwcrypto.jwk import JWK
from sqlalchemy import select

from ..extensions import db
from ..timeutil import utcnow
from .models import ToolKey


@functools.lru_cache(maxsize=16)
def _public_jwk(kid: str, private_key_pem: str) -> dict[str, Any]:
    # Loading an RSA private key costs tens of milliseconds; a key never changes, so once.
    jwk = json.loads(JWK.from_pem(private_key_pem.encode()).export_public())
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


def create_key() -> ToolKey:
    """Generate a new 2048-bit RSA signing key and store it; it becomes the active key."""
    jwk = JWK.generate(kty="RSA", size=2048)
    key = ToolKey(
        kid=jwk.thumbprint(),
        private_key_pem=jwk.export_to_pem(private_key=True, password=None).decode(),
    )
    db.session.add(key)
    db.session.commit()
    return key


def live_keys() -> list[ToolKey]:
    """Keys not yet retired, newest first."""
    stmt = select(ToolKey).where(ToolKey.retired_at.is_(None)).order_by(ToolKey.created_at.desc())
    return list(db.session.scalars(stmt))


def active_key() -> ToolKey:
    """The key the tool signs with, created the first time it is needed."""
    keys = live_keys()
    return keys[0] if keys else create_key()


def jwks() -> dict[str, list[dict[str, Any]]]:
    """The public half of every live key, as a JSON Web Key Set."""
    keys = live_keys() or [active_key()]
    return {"keys": [_public_jwk(key.kid, key.private_key_pem) for key in keys]}


def retire_key(kid: str) -> bool:
    """Take a key out of the JWKS. Refuses to retire the last live key; returns success."""
    key = db.session.get(ToolKey, kid)
    if key is None or key.retired_at is not None or len(live_keys()) < 2:
        return False
    key.retired_at = utcnow()
    db.session.commit()
    return True
