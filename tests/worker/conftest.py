"""Fixtures for the worker under faults: a real SMTP server and webhook receiver the alerts go
to, a stand-in Canvas with a connected institution, jobs that fail, and a way to wait."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from lti_app.alerts import recipients
from lti_app.alerts.models import AlertDelivery, Channel
from lti_app.canvas import connections
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering import writing
from lti_app.rostering.models import JobStatus, Trigger
from lti_app.timeutil import utcnow


@pytest.fixture
def app_overrides(smtp) -> dict[str, object]:
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "PUBLIC_URL": "https://tool.example.edu",
        "WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"],
        "ALERT_BACKOFF_SECONDS": 0.0,
        "ALERT_POLL_SECONDS": 0.1,
        # An institution is due again a second after each poll: "polled again within its
        # poll interval" is then a second, while a lease lasts the default five minutes.
        "CANVAS_POLL_IDLE_SECONDS": 1,
        "CANVAS_POLL_ACTIVE_SECONDS": 1,
        "CANVAS_BACKOFF_SECONDS": 0.01,
        "CANVAS_TIMEOUT_SECONDS": 2,
        "CANVAS_MAX_ATTEMPTS": 2,
    }


@pytest.fixture
def subscribers(tenant_ids, receiver) -> Callable[[int, int], None]:
    """Alpha College's recipients: ``emails`` addresses and ``hooks`` signed JSON webhooks,
    every event."""

    def add(emails: int, hooks: int) -> None:
        for n in range(emails):
            recipients.add_email(
                tenant_ids["dep-a"], f"ops-{n}@alpha.example.edu", events=None, locale="en",
                added_by="Avery Admin",
            )  # fmt: skip
        for n in range(hooks):
            recipients.add_webhook(
                tenant_ids["dep-a"], f"{receiver.url}/hook-{n}", Channel.JSON, events=None,
                locale="en", added_by="Avery Admin",
            )  # fmt: skip

    return add


@pytest.fixture
def fail_a_sync(tenant_ids) -> Callable[[str], None]:
    """An agent's sync of Alpha College ends Failed (its event written with the change)."""

    def fail(external_id: str) -> None:
        now = utcnow()
        job = writing.create_job(
            tenant_ids["dep-a"],
            writing.NewJob(
                external_id=external_id, posted_by="SIS agent", trigger=Trigger.SCHEDULED,
                sis_type="OneRoster", status=JobStatus.IN_PROGRESS, created_at=now, updated_at=now,
            ),
        )  # fmt: skip
        writing.update_job(job, writing.JobChanges(status=JobStatus.FAILED))

    return fail


@pytest.fixture
def connect_canvas(canvas, tenant_ids) -> Callable[[], int]:
    """Connect Alpha College to the stand-in Canvas (account 1); the connection's id."""

    def connect() -> int:
        tenant = db.session.get(Tenant, tenant_ids["dep-a"])
        return connections.connect(
            tenant, base_url=canvas.base_url, account_id="1", method="token",
            connected_by="Test Operator", access_token=canvas.standin.issue_token(),
        ).id  # fmt: skip

    return connect


def received_ids(smtp, receiver) -> list[str]:
    """The id of every alert that arrived, as often as it arrived: each email's Message-ID
    and each webhook's webhook-id."""
    emails = [str(m["Message-ID"]).strip("<>").split("@")[0] for m in smtp.inbox.messages]
    return emails + [r.headers["Webhook-Id"] for r in receiver.requests]


def delivery_ids() -> set[str]:
    db.session.rollback()
    return set(db.session.scalars(select(AlertDelivery.public_id)))


def eventually(check: Callable[[], Any], within: float, every: float = 0.05) -> float | None:
    """Seconds until ``check()`` is true, or None when it was not within ``within`` seconds."""
    started = time.monotonic()
    while time.monotonic() - started <= within:
        if check():
            return time.monotonic() - started
        time.sleep(every)
    return None
