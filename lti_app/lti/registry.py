"""Platform registrations and deployments (tenants), and the PyLTI1p3 view of them.

One running tool serves many Canvas instances, so registrations are rows, not a JSON file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pylti1p3.contrib.flask import FlaskRequest
from pylti1p3.deployment import Deployment
from pylti1p3.registration import Registration
from pylti1p3.tool_config import ToolConfAbstract
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db, rowcount
from ..timeutil import utcnow
from .models import Platform, Tenant


@dataclass(frozen=True)
class PlatformSpec:
    """What an administrator tells the tool about a platform when registering it."""

    issuer: str
    client_id: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str | None = None
    key_set: dict[str, Any] | None = None
    auth_audience: str | None = None


def find_platform(issuer: str, client_id: str | None) -> Platform | None:
    """The platform registered for this issuer and client id.

    Without a client id (some platforms omit it from the login request) the issuer alone
    decides, provided it has exactly one registration.
    """
    stmt = select(Platform).where(Platform.issuer == issuer)
    if client_id:
        return db.session.scalars(stmt.where(Platform.client_id == client_id)).first()
    platforms = db.session.scalars(stmt.limit(2)).all()
    return platforms[0] if len(platforms) == 1 else None


def find_tenant(issuer: str, client_id: str, deployment_id: str) -> Tenant | None:
    """The tenant for a deployment of a registered platform, if there is one."""
    stmt = (
        select(Tenant)
        .join(Platform)
        .where(
            Platform.issuer == issuer,
            Platform.client_id == client_id,
            Tenant.deployment_id == deployment_id,
        )
    )
    return db.session.scalars(stmt).first()


_ORIGINS_TTL = 60.0
_origins_cache: tuple[float, list[str]] = (0.0, [])


def origin(url: str) -> str | None:
    """The scheme and host of an http(s) URL, or None."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def platform_origins() -> list[str]:
    """Origins of the registered issuers (a self-hosted Canvas frames the tool from its own
    domain), cached for a minute so headers cost no query per request."""
    global _origins_cache
    fetched_at, origins = _origins_cache
    if time.monotonic() - fetched_at > _ORIGINS_TTL:
        try:
            issuers = db.session.scalars(select(Platform.issuer).distinct()).all()
        except SQLAlchemyError:
            db.session.rollback()
            return origins  # an error page while the database is down still gets headers
        origins = sorted({o for o in map(origin, issuers) if o})
        _origins_cache = (time.monotonic(), origins)
    return origins


def _forget_origins() -> None:
    global _origins_cache
    _origins_cache = (0.0, [])


def register(
    spec: PlatformSpec,
    deployment_ids: list[str],
    name: str = "",
    *,
    via: str = "cli",
    pending: bool = False,
) -> Platform:
    """Create or update a platform and add deployments to it. Running it again is harmless.

    ``via`` says how (``cli`` or ``dynamic``); ``pending`` keeps a new platform's launches
    out until it is approved. Registered without any deployment, the platform records its
    first one at its first verified launch.
    """
    platform = find_platform(spec.issuer, spec.client_id)
    if platform is None:
        platform = Platform(
            issuer=spec.issuer, client_id=spec.client_id, status="pending" if pending else "active"
        )
        db.session.add(platform)
    platform.registered_via = via
    platform.registered_at = utcnow()
    platform.adopts_first_deployment = not deployment_ids and not platform.tenants
    platform.auth_login_url = spec.auth_login_url
    platform.auth_token_url = spec.auth_token_url
    platform.key_set_url = spec.key_set_url
    platform.key_set = spec.key_set
    platform.auth_audience = spec.auth_audience
    known = {tenant.deployment_id: tenant for tenant in platform.tenants}
    for deployment_id in deployment_ids:
        tenant = known.get(deployment_id)
        if tenant is None:
            tenant = Tenant(deployment_id=deployment_id, name=name)
            platform.tenants.append(tenant)
            known[deployment_id] = tenant
        elif name:
            tenant.name = name
    db.session.commit()
    _forget_origins()
    return platform


def adopt_deployment(issuer: str, client_id: str, deployment_id: str) -> Tenant | None:
    """Record the deployment of a verified launch on a platform registered without one.

    Canvas's Dynamic Registration answer may not name the deployment (it is made when the app
    is added to an account), but every launch does. Only the first one is taken: one guarded
    update decides between two racing launches.
    """
    platform = find_platform(issuer, client_id)
    if platform is None or not platform.adopts_first_deployment:
        return None
    taken = db.session.execute(
        update(Platform)
        .where(Platform.id == platform.id, Platform.adopts_first_deployment.is_(True))
        .values(adopts_first_deployment=False)
        .execution_options(synchronize_session=False)
    )
    if rowcount(taken) != 1:
        db.session.rollback()
        return None
    tenant = Tenant(platform_id=platform.id, deployment_id=deployment_id)
    db.session.add(tenant)
    db.session.commit()
    return tenant


def approve(issuer: str, client_id: str) -> bool:
    """Let a pending platform's launches in."""
    platform = find_platform(issuer, client_id)
    if platform is None:
        return False
    platform.status = "active"
    db.session.commit()
    return True


def remove(issuer: str, client_id: str, deployment_id: str | None = None) -> bool:
    """Remove one deployment, or the whole platform when no deployment is named."""
    platform = find_platform(issuer, client_id)
    if platform is None:
        return False
    if deployment_id is None:
        db.session.delete(platform)
    else:
        tenant = find_tenant(issuer, client_id, deployment_id)
        if tenant is None:
            return False
        db.session.delete(tenant)
    db.session.commit()
    _forget_origins()
    return True


def specs_from_pylti_config(config: dict[str, Any]) -> list[tuple[PlatformSpec, list[str]]]:
    """Read a PyLTI1p3 JSON tool config: ``{issuer: entry or [entries]}``.

    Raises ``ValueError`` naming the first entry that lacks a required field.
    """
    result = []
    for issuer, entries in config.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            missing = [
                field
                for field in ("client_id", "auth_login_url", "auth_token_url", "deployment_ids")
                if not entry.get(field)
            ]
            if not (entry.get("key_set_url") or entry.get("key_set")):
                missing.append("key_set_url")
            if missing:
                raise ValueError(f"{issuer}: missing {', '.join(missing)}")
            spec = PlatformSpec(
                issuer=issuer,
                client_id=str(entry["client_id"]),
                auth_login_url=entry["auth_login_url"],
                auth_token_url=entry["auth_token_url"],
                key_set_url=entry.get("key_set_url"),
                key_set=entry.get("key_set"),
                auth_audience=entry.get("auth_audience"),
            )
            result.append((spec, [str(d) for d in entry["deployment_ids"]]))
    return result


class DatabaseToolConf(ToolConfAbstract[FlaskRequest]):
    """PyLTI1p3's tool configuration, answered from the registration tables."""

    def check_iss_has_one_client(self, iss: str) -> bool:
        # Every issuer may have many client ids (one per developer key); always look up both.
        return False

    def check_iss_has_many_clients(self, iss: str) -> bool:
        return True

    def find_registration_by_issuer(self, iss: str, *args: Any, **kwargs: Any) -> Registration:
        raise NotImplementedError("registrations are looked up by issuer and client id")

    # PyLTI1p3 declares a Registration but checks for None: an unknown platform is refused.
    def find_registration_by_params(  # type: ignore[override]
        self, iss: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Registration | None:
        platform = find_platform(iss, client_id)
        if platform is None:
            return None
        registration = (
            Registration()
            .set_issuer(platform.issuer)
            .set_client_id(platform.client_id)
            .set_auth_login_url(platform.auth_login_url)
            .set_auth_token_url(platform.auth_token_url)
            .set_key_set_url(platform.key_set_url)
            # A stored JWKS (a dict) for PyLTI1p3's TypedDict of one.
            .set_key_set(platform.key_set)  # type: ignore[arg-type]
        )
        if platform.auth_audience:
            registration.set_auth_audience(platform.auth_audience)
        return registration

    def find_deployment(self, iss: str, deployment_id: str) -> Deployment | None:
        raise NotImplementedError("deployments are looked up by issuer, client id and id")

    def find_deployment_by_params(
        self, iss: str, deployment_id: str, client_id: str, *args: Any, **kwargs: Any
    ) -> Deployment | None:
        if find_tenant(iss, client_id, deployment_id) is None:
            return None
        return Deployment().set_deployment_id(deployment_id)
