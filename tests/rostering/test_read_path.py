"""What the tab and the live check cost the database: on PostgreSQL no transaction around reads,
and plans that stay on the indexes once psycopg prepares the statements; on SQLite, statements
that stay prepared from one request to the next."""

from __future__ import annotations

import re
from datetime import timedelta

import psycopg
import pytest
from flask import Flask
from sqlalchemy import event, select, text

from lti_app.api import tokens
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering import reading, sync, writing
from lti_app.rostering.models import JobStatus, RosteringJob, Trigger
from lti_app.tab import queries
from lti_app.timeutil import utcnow
from tests.support.launcher import Launcher, https_client


@pytest.fixture
def postgresql(app: Flask) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL transaction and plan")


@pytest.mark.usefixtures("postgresql")
def test_the_views_that_only_read_do_it_without_a_transaction(
    make_app, registered, tenant_ids, make_job
):
    """A BEGIN and a ROLLBACK are two round trips a read gains nothing from (READ COMMITTED
    gives each statement its own snapshot), and psycopg answers each ROLLBACK by forgetting
    every statement it prepared on the connection. A view that is not marked still has one."""
    app = make_app()  # its requests get their own app context and session, as in production

    def probe() -> str:
        return str(db.session.scalar(select(RosteringJob.id).limit(1)))

    app.add_url_rule("/probe", view_func=probe)
    # Where each statement left its connection: in a transaction (psycopg began one before
    # it) or not (autocommit).
    seen: list[object] = []

    def note_transaction(connection, *_) -> None:
        seen.append(connection.connection.dbapi_connection.info.transaction_status)

    with app.app_context():
        engine = db.engine

    client = https_client(app)
    token = Launcher(client, registered).admin_token("dep-a")
    job = make_job(status=JobStatus.IN_PROGRESS)
    canvas_import = make_job(canvas_sis_import_id=4242)
    _, agent = tokens.create(db.session.get(Tenant, tenant_ids["dep-a"]), "agent")
    sync.save_schedule(tenant_ids["dep-a"], {"frequency": "daily", "time_of_day": "02:00",
                                             "first_run": utcnow(), "timezone": "UTC"})  # fmt: skip
    db.session.commit()
    tab = {"launch_token": token}
    api = {"Authorization": f"Bearer {agent}"}
    idle, in_transaction = psycopg.pq.TransactionStatus.IDLE, psycopg.pq.TransactionStatus.INTRANS
    for path, query, headers, expected in (
        ("/rostering/", tab, {}, idle),
        ("/rostering/settings", tab, {}, idle),
        ("/rostering/activity", tab, {}, idle),
        ("/rostering/live", {**tab, "job": job.public_id, "seen": "in_progress"}, {}, idle),
        (f"/rostering/jobs/{job.public_id}/json", tab, {}, idle),
        (f"/rostering/jobs/{job.public_id}/details", tab, {}, idle),
        (f"/rostering/jobs/{canvas_import.public_id}/restore", tab, {}, idle),
        (f"/rostering/jobs/{canvas_import.public_id}/abort", tab, {}, idle),
        ("/api/v1/rostering_jobs", {}, api, idle),
        (f"/api/v1/rostering_jobs/{job.public_id}", {}, api, idle),
        (f"/api/v1/rostering_jobs/{job.public_id}/messages", {}, api, idle),
        ("/api/v1/schedule", {}, api, idle),
        ("/api/v1/sync_requests", {}, api, idle),
        ("/api/v1/change_guard", {}, api, idle),
        ("/healthz", {}, {}, idle),
        ("/probe", {}, {}, in_transaction),
    ):
        seen.clear()
        event.listen(engine, "after_cursor_execute", note_transaction)
        try:
            response = client.get(path, query_string=query, headers=headers)
        finally:
            event.remove(engine, "after_cursor_execute", note_transaction)
        assert response.status_code == 200, path
        assert seen and set(seen) == {expected}, path


def _history(tenant: int) -> None:
    """A month of finished syncs (20,000, one in five failed), analysed as autovacuum would."""
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
    _history(tenant)
    for statement, params in (
        (reading.LIVE_FLAGS, {"tenant_id": tenant}),
        (reading.LIVE_STATUSES, {"tenant_id": tenant, "public_ids": ["a" * 32, "b" * 32]}),
    ):
        plan = _generic_plan(statement, params)
        assert "Seq Scan on rostering_job" not in plan, plan
        assert "ix_rostering_job_tenant_status_updated" in plan, plan


@pytest.mark.usefixtures("postgresql")
def test_the_tabs_state_is_planned_once_when_prepared(tenant_ids):
    """psycopg prepares a statement run five times on a connection; PostgreSQL then plans it
    five times more with the values and keeps a generic plan if that costs no more. The
    state's statement (nine tables and five subqueries) took 2 ms to plan and 0.3 ms to run,
    and with a LIMIT sent as a parameter its generic plan was priced as reading a tenth of
    the history, so it was planned again on every view."""
    tenant = db.session.get(Tenant, tenant_ids["dep-a"])
    _history(tenant.id)
    db.session.commit()
    connection = db.session.connection()
    compiled = queries._STATE.compile(dialect=connection.dialect)
    params = {**compiled.params, "tenant_id": tenant.id, "base_url": None, "now": utcnow()}
    cursor = connection.connection.dbapi_connection.cursor()
    for _ in range(12):
        cursor.execute(str(compiled), params, prepare=True)
        cursor.fetchall()
    cursor.execute(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
        " WHERE statement LIKE '%%LEFT OUTER JOIN sync_blackout%%'"
    )
    [(generic, custom)] = cursor.fetchall()
    assert (generic, custom) == (7, 5)


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
