"""What the tab and the live check cost the database: on PostgreSQL no transaction around reads,
and plans that stay on the indexes once psycopg prepares the statements; on SQLite, statements
that stay prepared from one request to the next."""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest
from flask import Flask, g
from sqlalchemy import text

from lti_app.extensions import db
from lti_app.rostering import reading, writing
from lti_app.rostering.models import JobStatus, Trigger
from lti_app.timeutil import utcnow
from tests.support.launcher import Launcher, https_client


@pytest.fixture
def postgresql(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL transaction and plan")


@pytest.mark.usefixtures("postgresql")
def test_the_tab_and_the_live_check_read_without_a_transaction(make_app, registered, make_job):
    """A BEGIN and a ROLLBACK are two round trips a read gains nothing from (READ COMMITTED
    gives each statement its own snapshot); a window that is not marked still has them."""
    app = make_app()  # its requests get their own app context and session, as in production
    seen: dict[str, object] = {}

    @app.after_request
    def note_transaction(response):
        dbapi = db.session.connection().connection.dbapi_connection
        seen[g.request_id] = dbapi.info.transaction_status
        return response

    client = https_client(app)
    token = Launcher(client, registered).admin_token("dep-a")
    job = make_job(status=JobStatus.IN_PROGRESS)
    idle, in_transaction = psycopg.pq.TransactionStatus.IDLE, psycopg.pq.TransactionStatus.INTRANS
    for path, query, expected in (
        ("/rostering/", {}, idle),
        ("/rostering/live", {"job": job.public_id, "seen": "in_progress"}, idle),
        (f"/rostering/jobs/{job.public_id}/json", {}, in_transaction),
    ):
        response = client.get(path, query_string={"launch_token": token, **query})
        assert response.status_code == 200, path
        assert seen[response.headers["X-Request-ID"]] == expected, path


def _generic_plan(statement, params: dict[str, object]) -> str:
    """The plan PostgreSQL keeps for a prepared statement, whatever its parameters' values."""
    connection = db.session.connection()
    expanded = statement.compile(dialect=connection.dialect).construct_expanded_state(params)
    values = expanded.parameters
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match[1])
        return f"${len(names)}"

    sql = re.sub(r"%\((\w+)\)s", number, expanded.statement)
    connection.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
    connection.exec_driver_sql(f"PREPARE live_plan AS {sql}")
    try:
        # EXECUTE takes no bound parameters: the values are written in as literals.
        dbapi = connection.connection.dbapi_connection
        arguments = ", ".join(psycopg.sql.Literal(values[name]).as_string(dbapi) for name in names)
        rows = connection.exec_driver_sql(f"EXPLAIN EXECUTE live_plan({arguments})")
        return "\n".join(row[0] for row in rows)
    finally:
        connection.exec_driver_sql("DEALLOCATE live_plan")


@pytest.mark.usefixtures("postgresql")
def test_any_sync_running_stays_on_the_index_when_prepared(tenant_ids):
    """Asked with the status as a parameter, "is any job In Progress?" is planned as a read of
    the whole history from the start (a third of the rows guessed to match), which never
    finds one when none runs: 160 ms at a million jobs. The status is written into the SQL."""
    tenant = tenant_ids["dep-a"]
    start = utcnow() - timedelta(days=30)
    writing.insert_jobs(
        tenant,
        (
            writing.NewJob(
                external_id=f"past-{n}",
                posted_by="Canvas Integrations Admin",
                trigger=Trigger.SCHEDULED,
                sis_type="OneRoster",
                status=JobStatus.FAILED if n % 5 == 0 else JobStatus.COMPLETED,
                created_at=start + timedelta(minutes=n),
                updated_at=start + timedelta(minutes=n, seconds=30),
            )
            for n in range(20_000)
        ),
    )
    db.session.execute(text("ANALYZE rostering_job"))
    for statement, params in (
        (reading.LIVE_FLAGS, {"tenant_id": tenant}),
        (reading.LIVE_STATUSES, {"tenant_id": tenant, "public_ids": ["a" * 32, "b" * 32]}),
    ):
        plan = _generic_plan(statement, params)
        assert "Seq Scan on rostering_job" not in plan, plan
        assert "ix_rostering_job_tenant_status_updated" in plan, plan


def test_sqlite_keeps_its_prepared_statements_between_pages(make_app, registered, make_job):
    """SQLite's reads never had a transaction to drop. Switching its isolation level for them
    did cost: the pool put the connection back with ``PRAGMA read_uncommitted``, which expires
    every statement it has prepared, so each request prepared all of its own again."""
    app = make_app()
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's prepared statements")
    client = https_client(app)
    token = Launcher(client, registered).admin_token("dep-a")
    job = make_job(status=JobStatus.IN_PROGRESS)
    with app.app_context():
        dbapi = db.engine.raw_connection()
        traced: list[str] = []
        dbapi.driver_connection.set_trace_callback(traced.append)
        dbapi.close()  # back to the pool: the one connection the requests below check out
    for path, query in (
        ("/rostering/", {}),
        ("/rostering/live", {"job": job.public_id, "seen": "in_progress"}),
        ("/rostering/", {}),
    ):
        response = client.get(path, query_string={"launch_token": token, **query})
        assert response.status_code == 200, path
    assert any(sql.startswith("SELECT") for sql in traced), "the requests used another connection"
    assert not [sql for sql in traced if "read_uncommitted" in sql]
