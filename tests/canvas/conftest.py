"""Fixtures for the Canvas mirror: a stand-in Canvas served over real HTTP, connections made
the way an operator or an admin makes them, and a poller that runs as a worker does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from lti_app.canvas import connections, worker
from lti_app.canvas.models import CanvasConnection
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering.models import RosteringJob


@pytest.fixture
def app_overrides() -> dict[str, object]:
    # Backoffs in hundredths of a second, so retries cost the suite nothing.
    return {"CANVAS_BACKOFF_SECONDS": 0.01, "CANVAS_TIMEOUT_SECONDS": 2, "CANVAS_MAX_ATTEMPTS": 3}


@pytest.fixture
def connect(canvas, tenant_ids) -> Callable[..., CanvasConnection]:
    """Connect an institution to the stand-in with a token made by hand (or OAuth tokens)."""

    def connect(deployment: str = "dep-a", account: str = "1", **tokens: Any) -> CanvasConnection:
        tenant = db.session.get(Tenant, tenant_ids[deployment])
        if "access_token" not in tokens:
            tokens["access_token"] = canvas.standin.issue_token()
        return connections.connect(
            tenant,
            base_url=canvas.base_url,
            account_id=account,
            method=tokens.pop("method", "token"),
            connected_by="Test Operator",
            **tokens,
        )

    return connect


@pytest.fixture
def poll() -> Callable[[], dict[int, str]]:
    """One pass of a worker over every connection; the outcomes by connection id."""
    return lambda: worker.poll_all(worker.worker_name())


def jobs_of(tenant_id: int) -> list[RosteringJob]:
    return list(
        db.session.scalars(
            select(RosteringJob)
            .where(RosteringJob.tenant_id == tenant_id)
            .order_by(RosteringJob.id)
        )
    )


def count_jobs(tenant_id: int) -> int:
    return db.session.scalar(
        select(func.count()).select_from(RosteringJob).where(RosteringJob.tenant_id == tenant_id)
    )


CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"


def canvas_launch(launcher, canvas, deployment: str = "dep-a") -> str:
    """An admin's launch from a Canvas whose API is the stand-in's."""
    return launcher.admin_token(
        deployment,
        **{
            CUSTOM: {
                "canvas_account_name": "Alpha College",
                "canvas_membership_roles": "Account Admin",
                "canvas_api_base_url": canvas.base_url,
                "canvas_root_account_id": "1",
            }
        },
    )
