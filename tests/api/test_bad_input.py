"""Bad input refused alike on every database: the regressions the fuzzers' class began with,
database errors classified, and a connection that drops between the answer and the teardown."""

from __future__ import annotations

import gc
import logging

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from lti_app.extensions import db
from lti_app.observability import GunicornLogger
from lti_app.rostering.models import RosteringJob
from tests.support.launcher import Launcher, https_client


def _job(**more):
    return {"external_id": "sync-1", "sis_type": "OneRoster", **more}


def _jobs_stored() -> int:
    return db.session.execute(text("SELECT count(*) FROM rostering_job")).scalar_one()


def test_a_body_nested_5000_deep_is_refused_and_stores_nothing(api, client, api_tokens):
    body = '{"external_id": "x", "sis_type": "y", "files": ' + "[" * 5000 + "]" * 5000 + "}"
    response = client.post(
        "/api/v1/rostering_jobs",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {api_tokens['dep-a']}"},
    )
    assert response.status_code == 400
    assert "nested" in response.json["message"]
    assert _jobs_stored() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_job(sis_type="One\u0000Roster"), "sis_type"),
        (_job(messages=[{"severity": "error", "message": "bad\u0000row"}]), "messages.0.message"),
        (_job(files=[{"name": "a\u0000.json", "content": "{}"}]), "files.0.name"),
        (_job(change_counts={"us\u0000ers": {"created": 1}}), "change_counts.us\u0000ers"),
    ],
    ids=["sis_type", "message", "file-name", "key"],
)
def test_a_nul_in_any_string_is_a_422_naming_the_field(api, body, field):
    response = api("POST", "/rostering_jobs", body)
    assert response.status_code == 422
    assert [p["field"] for p in response.json["problems"]] == [field]
    assert _jobs_stored() == 0


def test_a_nul_in_a_path_or_query_is_a_422(api):
    assert api("GET", "/rostering_jobs/ext:a%00b").status_code == 422
    response = api("GET", "/rostering_jobs?cursor=1%002")
    assert response.status_code == 422 and response.json["problems"][0]["field"] == "cursor"


def test_a_count_beyond_64_bits_is_a_422_that_says_the_bound(api):
    response = api(
        "POST", "/rostering_jobs",
        _job(change_counts={"users": {"created": 99999999999999999999999999}}),
    )  # fmt: skip
    assert response.status_code == 422
    (problem,) = response.json["problems"]
    assert problem["field"] == "change_counts.users.created"
    assert "9223372036854775807" in problem["message"]
    assert _jobs_stored() == 0


def test_ids_beyond_the_databases_integers_are_refused_not_faults(api):
    assert api("POST", "/rostering_jobs", _job(sync_request_id=2**40)).status_code == 422
    assert api("POST", "/sync_requests/99999999999/claim").status_code == 404
    assert api("GET", f"/rostering_jobs?cursor=1.{2**70}").status_code == 200
    assert api("GET", "/rostering_jobs?cursor=-1.5").status_code == 422


@pytest.mark.parametrize("first_run", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"])
def test_a_schedule_out_of_any_sensible_range_is_refused(api, first_run):
    body = {"frequency": "hourly", "every_hours": 6, "first_run": first_run}
    response = api("PUT", "/schedule", body)
    assert response.status_code == 422
    assert response.json["problems"][0]["field"] == "first_run"


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_a_stored_edge_of_calendar_time_never_breaks_a_page(
    api, launcher, client, tenant_ids, zone, make_job
):
    """Stored by an older version (or by hand): the page renders it in every zone."""
    api("PUT", "/schedule", {"frequency": "hourly", "every_hours": 6,
                             "first_run": "2030-01-01T00:00:00Z"})  # fmt: skip
    db.session.execute(
        text("UPDATE sync_schedule SET first_run = :at"),
        {
            "at": "9999-12-31 23:59:59"
            if db.engine.dialect.name == "sqlite"
            else "9999-12-31T23:59:59Z"
        },
    )
    db.session.commit()
    token = launcher.admin_token("dep-a", **{
        "https://purl.imsglobal.org/spec/lti/claim/custom": {
            "canvas_membership_roles": "Account Admin", "user_timezone": zone}})  # fmt: skip
    page = client.get("/rostering/", query_string={"launch_token": token})
    assert page.status_code == 200
    assert "9999" in page.get_data(as_text=True)
    assert api("GET", "/schedule").status_code == 200


def test_database_errors_are_classified(app, client, api):
    """A value the database refuses: 422; a lost database: 503; anything else: 500 with the
    request id, on either database."""

    def raising(error):
        def view():
            raise error

        return view

    orig = Exception("value too long")
    for rule, error in [
        ("/_data", DataError("INSERT", {}, orig)),
        ("/_gone", OperationalError("SELECT", {}, Exception("server closed the connection"))),
        ("/_other", IntegrityError("INSERT", {}, Exception("duplicate key"))),
    ]:
        app.add_url_rule(rule, rule, raising(error))
    data = client.get("/_data", headers={"Accept": "application/json"})
    assert data.status_code == 422 and data.json["problems"][0]["message"] == "value too long"
    assert client.get("/_gone").status_code == 503
    other = client.get("/_other", headers={"Accept": "application/json"})
    assert other.status_code == 500 and other.headers["X-Request-ID"] in other.json["message"]


def test_a_real_data_error_from_the_database_is_a_422(app, client):
    """The database itself refusing a value (SQLite refuses none, so PostgreSQL only)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite accepts any value in any column")

    def view():
        db.session.execute(text("SELECT 'not a number'::integer"))
        return "unreachable"

    app.add_url_rule("/_cast", "_cast", view)
    response = client.get("/_cast", headers={"Accept": "application/json"})
    assert response.status_code == 422


def test_gunicorns_own_lines_are_redacted(capsys):
    from gunicorn.config import Config

    config = Config()
    config.set("errorlog", "-")
    config.set("accesslog", "-")
    logger = GunicornLogger(config)
    logger.error("Error handling request /rostering/?launch_token=SECRET123&page=2")
    logger.access_log.info("GET /canvas/oauth/callback?code=SECRETCODE&state=x")
    err = capsys.readouterr().err + capsys.readouterr().out
    assert "SECRET123" not in err and "SECRETCODE" not in err
    assert "launch_token=[redacted]" in err


def test_a_connection_dropped_between_the_view_and_the_teardown(
    make_app, registered, make_job, caplog
):
    """The answer stands and the teardown's failure is one warning, no traceback. (A view
    that reads in a transaction, as one not marked ``reads_only`` does; those marked hold
    none to lose.)"""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("kills a PostgreSQL backend")
    app = make_app()
    kill = {"on": False}
    job = make_job()

    def window() -> str:
        return db.session.scalars(select(RosteringJob.public_id).limit(1)).one()

    app.add_url_rule("/window", view_func=window)

    @app.after_request
    def kill_connection(response):
        # Between the view and the teardown: the answer is made, the session still holds its
        # connection (and the transaction the window read in).
        if kill["on"]:
            pid = db.session.connection().connection.dbapi_connection.info.backend_pid
            with db.engine.connect() as other:
                # It returns once the signal is sent; wait for the backend to be gone.
                other.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
                other.commit()
        return response

    client = https_client(app)
    Launcher(client, registered).admin_token("dep-a")  # an admin at work, as in production
    caplog.set_level(logging.WARNING)
    kill["on"] = True
    response = client.get("/window")
    assert response.status_code == 200 and response.text == job.public_id
    lost = [r for r in caplog.records if "connection lost after the response" in r.getMessage()]
    assert len(lost) == 1 and lost[0].exc_info is None
    assert not [r for r in caplog.records if r.exc_info and r.name.startswith("lti_app")]
    # The next request gets a fresh connection.
    kill["on"] = False
    assert client.get("/window").status_code == 200
    # The dead connection was closed, not left for the garbage collector to find open (it
    # would warn in whichever test happened to run then).
    gc.collect()
