"""Fixtures for the SIS agent API tests."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def job_body() -> dict[str, Any]:
    return {
        "external_id": "sync-2026-11-26-0200",
        "sis_type": "OneRoster",
        "status": "in_progress",
        "stage": "Queued",
    }
