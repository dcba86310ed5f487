"""Fixtures for the alerts: a real SMTP server, a real webhook receiver, the tool configured
to use both, and one round of the worker's alerts loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lti_app.worker import alerts_tick


@pytest.fixture
def app_overrides(smtp) -> dict[str, object]:
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "MAIL_DEFAULT_SENDER": "SIS Integration <alerts@tool.example.edu>",
        "PUBLIC_URL": "https://tool.example.edu",
        # The receiver runs on the loopback address, which an operator must name.
        "WEBHOOK_ALLOWED_HOSTS": ["127.0.0.1"],
        "ALERT_BACKOFF_SECONDS": 0.0,
    }


@pytest.fixture
def worker_round() -> Callable[[], bool]:
    """One round of the worker's alerts loop (as `flask worker` runs it), repeated until it
    finds nothing more to do."""

    def run() -> bool:
        did = False
        for _ in range(20):
            if not alerts_tick("test-worker"):
                break
            did = True
        return did

    return run


@pytest.fixture
def add_email(tenant_ids) -> Callable[..., Any]:
    from lti_app.alerts import recipients

    def add(address: str, deployment: str = "dep-a", events: list[str] | None = None, **kw: Any):
        return recipients.add_email(
            tenant_ids[deployment],
            address,
            events=events,
            locale=kw.get("locale", "en"),
            added_by=kw.get("added_by", "Avery Admin"),
        )

    return add
