"""Fixtures for the Rostering tab: tenants with jobs, and an admin's launch token."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from lti_app.lti import registry
from lti_app.rostering import service
from lti_app.rostering.models import JobStatus, RosteringJob, Trigger
from lti_app.timeutil import utcnow

_counter = itertools.count()


@pytest.fixture
def tenant_ids(registered) -> dict[str, int]:
    """The database ids of the two registered institutions, by deployment id."""
    return {
        deployment: registry.find_tenant(registered.issuer, registered.client_id, deployment).id
        for deployment in ("dep-a", "dep-b")
    }


@pytest.fixture
def make_job(tenant_ids) -> Callable[..., RosteringJob]:
    """Store a job for a tenant (``dep-a`` unless told), with sensible defaults."""

    def make(deployment: str = "dep-a", *, minutes_ago: float = 0, **fields: Any) -> RosteringJob:
        number = next(_counter)
        when: datetime = fields.pop("updated_at", utcnow() - timedelta(minutes=minutes_ago))
        new = service.NewJob(
            external_id=fields.pop("external_id", f"ext-{number}"),
            posted_by=fields.pop("posted_by", "Canvas Integrations Admin"),
            trigger=fields.pop("trigger", Trigger.SCHEDULED),
            sis_type=fields.pop("sis_type", "OneRoster"),
            status=fields.pop("status", JobStatus.COMPLETED),
            created_at=fields.pop("created_at", when - timedelta(minutes=5)),
            updated_at=when,
            **fields,
        )
        return service.create_job(tenant_ids[deployment], new)

    return make


@pytest.fixture
def token(launcher) -> str:
    """A launch token of an account admin of Alpha College (dep-a), in America/Denver."""
    return launcher.admin_token("dep-a")


@pytest.fixture
def get(client, token) -> Callable[..., Any]:
    """GET a tool page as the Alpha College admin."""

    def get(path: str, **query: Any) -> Any:
        return client.get(path, query_string={"launch_token": token, **query})

    return get
