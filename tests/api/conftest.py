"""Fixtures for the SIS agent API: a token per institution, and a JSON client that uses it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lti_app.api import tokens
from lti_app.extensions import db
from lti_app.lti.models import Tenant


@pytest.fixture
def api_tokens(tenant_ids) -> dict[str, str]:
    """A live API token for each institution, by deployment id."""
    return {
        deployment: tokens.create(db.session.get(Tenant, tenant_id), "test agent")[1]
        for deployment, tenant_id in tenant_ids.items()
    }


@pytest.fixture
def api(client, api_tokens) -> Callable[..., Any]:
    """Call the API as Alpha College's agent (``as_`` picks another token)."""

    def call(method: str, path: str, body: Any = None, *, as_: str = "dep-a", **kwargs: Any):
        headers = {"Authorization": f"Bearer {api_tokens[as_]}", **kwargs.pop("headers", {})}
        if body is not None:
            kwargs["json"] = body
        return client.open("/api/v1" + path, method=method, headers=headers, **kwargs)

    return call


@pytest.fixture
def job_body() -> dict[str, Any]:
    return {
        "external_id": "sync-2026-11-26-0200",
        "sis_type": "OneRoster",
        "status": "in_progress",
        "stage": "Queued",
    }
