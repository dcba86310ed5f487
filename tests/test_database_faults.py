"""The database failing mid-write or going away: 503s, nothing partial, and recovery."""

from __future__ import annotations

import gc

import flask_migrate
import pytest
from sqlalchemy import event, text

from lti_app.api import tokens
from lti_app.extensions import db
from lti_app.lti import registry
from tests.support.launcher import Launcher, https_client, platform_spec
from tests.support.tcp_proxy import proxied_postgres


@pytest.fixture
def failing_message_insert(app):
    """A trigger that makes the database reject one message row, mid-transaction."""
    if db.engine.dialect.name == "sqlite":
        statements = [
            "CREATE TRIGGER boom BEFORE INSERT ON rostering_job_message "
            "WHEN NEW.message = 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END",
        ]
        drop = ["DROP TRIGGER boom"]
    else:
        statements = [
            "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.message = 'boom' "
            "THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER boom BEFORE INSERT ON rostering_job_message "
            "FOR EACH ROW EXECUTE FUNCTION boom()",
        ]
        drop = ["DROP TRIGGER boom ON rostering_job_message", "DROP FUNCTION boom()"]
    with db.engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
    yield
    with db.engine.begin() as connection:
        for statement in drop:
            connection.execute(text(statement))


def test_a_write_that_fails_midway_commits_nothing(
    client, registered, api_tokens, failing_message_insert
):
    headers = {"Authorization": f"Bearer {api_tokens['dep-a']}"}
    created = client.post(
        "/api/v1/rostering_jobs",
        headers=headers,
        json={"external_id": "j1", "sis_type": "OneRoster", "stage": "Queued"},
    )
    job_id = created.json["id"]
    before = client.get(f"/api/v1/rostering_jobs/{job_id}", headers=headers).json
    response = client.patch(
        f"/api/v1/rostering_jobs/{job_id}",
        headers=headers,
        json={
            "status": "failed",
            "stage": "Canvas Import",
            "messages": [
                {"severity": "error", "message": "fine"},
                {"severity": "error", "message": "boom"},
            ],
            "files": [{"name": "a.json", "content": "{}"}],
        },
    )
    # Neither a bad value (422) nor a lost database (503): the database's own error, a 500
    # whose message carries the request id to quote.
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] in response.json["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    assert client.get(f"/api/v1/rostering_jobs/{job_id}", headers=headers).json == before
    # A job created with a failing message is not half-stored either.
    response = client.post(
        "/api/v1/rostering_jobs",
        headers=headers,
        json={
            "external_id": "j2",
            "sis_type": "OneRoster",
            "messages": [{"severity": "error", "message": "boom"}],
        },
    )
    assert response.status_code == 500
    assert client.get("/api/v1/rostering_jobs/ext:j2", headers=headers).status_code == 404


@pytest.fixture
def proxied_database():
    """A fresh PostgreSQL database reached through a proxy the test can cut."""
    with proxied_postgres("sis_integration_faults") as proxied:
        yield proxied


def test_database_outage_gives_503s_and_the_tool_recovers_by_itself(
    proxied_database, make_app, platform
):

    proxy, url = proxied_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        spec = platform_spec(platform)
        tenant = registry.register(spec, ["dep-a"], "Alpha College").tenants[0]
        _, api_token = tokens.create(tenant, "agent")
    client = https_client(app)
    launch_token = Launcher(client, platform).admin_token("dep-a")
    page = {"launch_token": launch_token}
    api = {"Authorization": f"Bearer {api_token}"}
    body = {"external_id": "during-outage", "sis_type": "OneRoster"}
    assert client.get("/rostering/", query_string=page).status_code == 200

    proxy.cut()
    assert client.get("/healthz").status_code == 503
    outage_page = client.get("/rostering/", query_string=page)
    assert outage_page.status_code == 503
    assert "reach its database right now" in outage_page.get_data(as_text=True)
    outage_api = client.post("/api/v1/rostering_jobs", headers=api, json=body)
    assert outage_api.status_code == 503
    assert outage_api.json["error"] == "Temporarily unavailable"

    proxy.restore()
    assert client.get("/healthz").status_code == 200
    assert client.get("/rostering/", query_string=page).status_code == 200
    assert client.post("/api/v1/rostering_jobs", headers=api, json=body).status_code == 201
    with app.app_context():
        count = db.session.execute(
            text("SELECT count(*) FROM rostering_job WHERE external_id = 'during-outage'")
        ).scalar()
    assert count == 1
    # Connections the outage broke were closed, not left open for the garbage collector.
    gc.collect()


@pytest.mark.parametrize("kind", ["page", "api-404", "api-422"])
def test_an_error_answer_never_needs_the_database_that_just_went_away(
    proxied_database, make_app, platform, kind
):
    """The database is cut at the instant after a request's first lookup: the error answer
    that follows (a 503 page in the admin's language, the API's 404 or 422) is built from what
    the request already holds; its rollback on the dead connection is logged, not raised."""
    proxy, url = proxied_database
    app = make_app(SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        flask_migrate.upgrade()
        spec = platform_spec(platform)
        alpha = registry.register(spec, ["dep-a"], "Alpha College").tenants[0]
        beta = registry.register(spec, ["dep-b"], "Beta University").tenants[-1]
        _, alpha_token = tokens.create(alpha, "agent")
        _, beta_token = tokens.create(beta, "agent")
    client = https_client(app)
    platform.locale = "es"
    try:
        launch_token = Launcher(client, platform).admin_token("dep-a")
    finally:
        platform.locale = None
    job = client.post(
        "/api/v1/rostering_jobs",
        headers={"Authorization": f"Bearer {alpha_token}"},
        json={"external_id": "j", "sis_type": "OneRoster"},
    ).json["id"]

    # The cut: right after the statement that finds the launch (a page), or the job (the API:
    # for the PATCH, the last of its lookups, its files; then the body is refused).
    after = {"page": "FROM lti_launch", "api-404": "FROM rostering_job", "api-422": "FROM "
             "rostering_job_file"}[kind]  # fmt: skip
    armed = [True]

    def cut_after(connection, cursor, statement, parameters, context, executemany):
        if armed and after in statement:
            armed.clear()
            proxy.cut()

    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", cut_after)
    try:
        if kind == "page":
            answer = client.get("/rostering/", query_string={"launch_token": launch_token})
            assert answer.status_code == 503
            page = answer.get_data(as_text=True)
            assert '<html lang="es">' in page and "No disponible temporalmente" in page
        elif kind == "api-404":
            answer = client.get(
                f"/api/v1/rostering_jobs/{job}", headers={"Authorization": f"Bearer {beta_token}"}
            )
            assert answer.status_code == 404 and answer.json["error"] == "Not Found"
        else:
            answer = client.patch(
                f"/api/v1/rostering_jobs/{job}",
                headers={"Authorization": f"Bearer {alpha_token}"},
                json={"status": "sometimes"},
            )
            assert answer.status_code == 422 and answer.json["problems"][0]["field"] == "status"
        assert not armed  # the cut happened
    finally:
        event.remove(engine, "after_cursor_execute", cut_after)
    # (Recovery after an outage is the test above's.) The dead connection was closed.
    gc.collect()
