"""The schedule and admins' "Sync now" requests: what admins ask for and agents act on."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..extensions import db, rowcount
from ..timeutil import utcnow
from .models import SyncRequest, SyncRequestStatus, SyncSchedule
from .writing import JobConflict


def get_schedule(tenant_id: int) -> SyncSchedule | None:
    """The tenant's sync schedule, if one is configured."""
    return db.session.scalars(
        select(SyncSchedule).where(SyncSchedule.tenant_id == tenant_id)
    ).first()


def save_schedule(tenant_id: int, fields: dict[str, Any]) -> SyncSchedule:
    """Create or replace the tenant's schedule with validated fields."""
    schedule = get_schedule(tenant_id) or SyncSchedule(tenant_id=tenant_id)
    for name, value in fields.items():
        setattr(schedule, name, value)
    if schedule.enabled:
        schedule.paused_by = schedule.paused_at = None
    schedule.updated_at = utcnow()
    db.session.add(schedule)
    db.session.commit()
    return schedule


def set_paused(tenant_id: int, paused: bool, by: str) -> SyncSchedule | None:
    """Pause or resume the tenant's schedule, remembering who paused it and when."""
    schedule = get_schedule(tenant_id)
    if schedule is None:
        return None
    schedule.enabled = not paused
    schedule.paused_by = by if paused else None
    schedule.paused_at = utcnow() if paused else None
    schedule.updated_at = utcnow()
    db.session.commit()
    return schedule


def pending_request(tenant_id: int) -> SyncRequest | None:
    """The tenant's sync request still waiting for an agent, if any."""
    return db.session.scalars(
        select(SyncRequest).where(
            SyncRequest.tenant_id == tenant_id,
            SyncRequest.status == SyncRequestStatus.PENDING.value,
        )
    ).first()


def request_sync(tenant_id: int, name: str, user_id: str) -> tuple[SyncRequest, bool]:
    """Ask for a sync now. While one is pending, that one stands (``created`` False)."""
    existing = pending_request(tenant_id)
    if existing is not None:
        return existing, False
    request = SyncRequest(tenant_id=tenant_id, requested_by=name, requested_by_user_id=user_id)
    db.session.add(request)
    try:
        db.session.commit()
    except IntegrityError:
        # Another admin's click won the race; the unique index keeps one pending request.
        db.session.rollback()
        existing = pending_request(tenant_id)
        if existing is None:
            raise
        return existing, False
    return request, True


def list_requests(tenant_id: int, status: SyncRequestStatus | None) -> list[SyncRequest]:
    """The tenant's sync requests, oldest first, optionally of one status."""
    stmt = select(SyncRequest).where(SyncRequest.tenant_id == tenant_id)
    if status is not None:
        stmt = stmt.where(SyncRequest.status == status.value)
    return list(db.session.scalars(stmt.order_by(SyncRequest.id).limit(100)))


def claim(
    tenant_id: int, request_id: int, agent: str, on_claimed: Callable[[], object] | None = None
) -> SyncRequest | None:
    """Claim a pending request for an agent: None if there is no such request, ``JobConflict``
    if it was claimed already. ``on_claimed`` adds what goes with a claim that won (its
    activity row) to the same transaction.

    One guarded UPDATE decides: the database lets only one of two racing agents change the row
    from pending (PostgreSQL's row lock makes the second re-check the WHERE and find nothing).
    """
    result = db.session.execute(
        update(SyncRequest)
        .where(
            SyncRequest.id == request_id,
            SyncRequest.tenant_id == tenant_id,
            SyncRequest.status == SyncRequestStatus.PENDING.value,
        )
        .values(status=SyncRequestStatus.CLAIMED.value, claimed_at=utcnow(), claimed_by=agent)
    )
    if rowcount(result) == 1 and on_claimed is not None:
        on_claimed()
    db.session.commit()
    request = db.session.scalars(
        select(SyncRequest).where(SyncRequest.id == request_id, SyncRequest.tenant_id == tenant_id)
    ).first()
    if request is None:
        return None
    if rowcount(result) != 1:
        raise JobConflict("this sync request was already claimed")
    return request
