"""Fixtures: a migrated database (SQLite, or TEST_DATABASE_URL), the app, a real test platform
with its own HTTP server, and a launcher that performs real OIDC logins and signed launches."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import flask_migrate
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from config.settings import database_url as normalise_url
from lti_app import create_app
from lti_app.api import tokens
from lti_app.dev.standin import StandInCanvas
from lti_app.extensions import db
from lti_app.lti import jwks_cache, registry
from lti_app.lti.models import Tenant
from lti_app.rostering import writing
from lti_app.rostering.models import JobStatus, RosteringJob, Trigger
from lti_app.timeutil import utcnow
from tests.support import fuzz
from tests.support.launcher import Launcher, https_client, platform_spec
from tests.support.platform import TestPlatform
from tests.support.servers import Served, SmtpServer, WebhookReceiver


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"API fuzzing: seed {fuzz.FUZZ_SEED} (FUZZ_SEED), {fuzz.FUZZ_EXAMPLES} examples per "
        "operation and mode (FUZZ_EXAMPLES)"
    )


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if fuzz.GENERATED:
        terminalreporter.section("API fuzzing: cases generated per operation")
        for (operation, mode), count in sorted(fuzz.GENERATED.items()):
            terminalreporter.write_line(f"{count:6d}  {mode:<9} {operation}")


def _app(url: str, **overrides: object) -> Flask:
    return create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url, **overrides})


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database built by the project's migrations, from empty, once per run."""
    url = normalise_url(
        os.environ.get("TEST_DATABASE_URL")
        or f"sqlite:///{tmp_path_factory.mktemp('db') / 'sis_integration_test.db'}"
    )
    app = _app(url)
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        flask_migrate.upgrade()
        db.engine.dispose()
    return url


@pytest.fixture
def app_overrides() -> dict[str, object]:
    """Settings a test module wants on top of the testing profile."""
    return {}


@pytest.fixture
def app(database_url: str, app_overrides: dict[str, object]) -> Iterator[Flask]:
    app = _app(database_url, **app_overrides)
    jwks_cache.clear()
    yield app
    with app.app_context():
        db.session.rollback()
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()
        db.engine.dispose()


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Build more apps on the same database (another worker, another configuration)."""
    made: list[Flask] = []

    def make(**overrides: object) -> Flask:
        made.append(_app(database_url, **overrides))
        return made[-1]

    yield make
    for other in made:
        with other.app_context():
            db.engine.dispose()


@pytest.fixture
def runner(app: Flask) -> Any:
    """The ``flask`` command line of the app under test."""
    return app.test_cli_runner()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return https_client(app)


@pytest.fixture
def tool_url(app: Flask, platform: TestPlatform) -> Iterator[str]:
    """The tool, served by a real HTTP server; browsers and agents reach it as ``localhost``."""
    with Served(app) as served:
        url = f"http://localhost:{served.port}"
        platform.tool_url = url
        yield url


@pytest.fixture(scope="session")
def platform() -> Iterator[TestPlatform]:
    platform = TestPlatform().start()
    yield platform
    platform.stop()


@pytest.fixture
def registered(app: Flask, platform: TestPlatform) -> TestPlatform:
    """The test platform registered with two institutions: dep-a (Alpha) and dep-b (Beta)."""
    spec = platform_spec(platform)
    with app.app_context():
        registry.register(spec, ["dep-a"], "Alpha College")
        registry.register(spec, ["dep-b"], "Beta University")
    return platform


@pytest.fixture
def launcher(client: FlaskClient, registered: TestPlatform) -> Launcher:
    return Launcher(client, registered)


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
        new = writing.NewJob(
            external_id=fields.pop("external_id", f"ext-{number}"),
            posted_by=fields.pop("posted_by", "Canvas Integrations Admin"),
            trigger=fields.pop("trigger", Trigger.SCHEDULED),
            sis_type=fields.pop("sis_type", "OneRoster"),
            status=fields.pop("status", JobStatus.COMPLETED),
            created_at=fields.pop("created_at", when - timedelta(minutes=5)),
            updated_at=when,
            **fields,
        )
        return writing.create_job(tenant_ids[deployment], new)

    return make


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
def smtp() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a port of its own; ``smtp.inbox`` holds what it got."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    """A real HTTP server that receives webhooks (answers as a test scripts it)."""
    receiver = WebhookReceiver()
    with receiver.serve():
        yield receiver


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
def canvas() -> Iterator[ServedCanvas]:
    """A stand-in Canvas on its own HTTP server."""
    standin = StandInCanvas()
    with Served(standin.wsgi()) as served:
        yield ServedCanvas(standin, f"http://127.0.0.1:{served.port}")
