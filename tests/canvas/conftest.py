"""Fixtures for the Canvas mirror: a stand-in Canvas served over real HTTP, connections made
the way an operator or an admin makes them, and a poller that runs as a worker does."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from lti_app.canvas import connections, worker
from lti_app.canvas.models import CanvasConnection
from lti_app.devcanvas import StandInCanvas
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering.models import RosteringJob


@dataclass
class ServedCanvas:
    standin: StandInCanvas
    base_url: str

    def list_requests(self, account: str | None = None) -> list[dict[str, str]]:
        """The query of every SIS imports list request, in order (of one account if named)."""
        return [
            query
            for path, query in self.standin.requests
            if path.endswith("/sis_imports")
            and (account is None or f"/accounts/{account}/" in path)
        ]

    def show_requests(self) -> list[str]:
        return [path for path, _ in self.standin.requests if "/sis_imports/" in path]


@pytest.fixture
def app_overrides() -> dict[str, object]:
    # Backoffs in hundredths of a second, so retries cost the suite nothing.
    return {"CANVAS_BACKOFF_SECONDS": 0.01, "CANVAS_TIMEOUT_SECONDS": 2, "CANVAS_MAX_ATTEMPTS": 3}


@pytest.fixture
def canvas() -> Iterator[ServedCanvas]:
    """A stand-in Canvas on its own HTTP server."""
    standin = StandInCanvas()
    server = make_server("127.0.0.1", 0, standin.wsgi(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ServedCanvas(standin, f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    thread.join()


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


@pytest.fixture
def runner(app):
    """The ``flask`` command line of the app under test."""
    return app.test_cli_runner()
