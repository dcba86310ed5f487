"""Fixtures for the Rostering tab: an admin's launch token and a way to read pages with it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


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
