"""Health checks, request ids, and logs that never carry a token."""

from __future__ import annotations

import logging
import time

from lti_app.observability import RequestContextFilter


def test_healthz_answers_ok_with_the_database(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": "ok"}


def test_healthz_is_503_without_the_database(tmp_path, make_app):
    app = make_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'missing' / 'db.sqlite'}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_request_id_is_kept_when_sane_and_made_otherwise(client):
    assert (
        client.get("/healthz", headers={"X-Request-ID": "req-42"}).headers["X-Request-ID"]
        == "req-42"
    )
    for bad in ("has spaces and <html>", "x" * 65, ""):
        made = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert made != bad and len(made) == 32


def test_every_answer_states_its_server_time_as_logged(launcher, client, caplog):
    token = launcher.admin_token("dep-a")
    with caplog.at_level(logging.INFO):
        response = client.get("/rostering/", query_string={"launch_token": token})
    name, _, duration = response.headers["Server-Timing"].partition(";dur=")
    logged = [r for r in caplog.records if r.name == "lti_app.requests"][-1]
    assert name == "app"
    assert float(duration) == logged.duration_ms > 0
    assert client.get("/no/such/page").headers["Server-Timing"].startswith("app;dur=")


def test_request_log_has_the_path_but_never_the_query(launcher, client, caplog):
    token = launcher.admin_token("dep-a")
    with caplog.at_level(logging.INFO):
        client.get(
            "/rostering/",
            query_string={"launch_token": token},
            headers={"X-Request-ID": "page-view-1"},
        )
    lines = [r for r in caplog.records if r.name == "lti_app.requests"]
    assert any(r.getMessage() == "GET /rostering/ 200" for r in lines)
    assert all(token not in r.getMessage() for r in caplog.records)


def test_failed_launch_logs_its_reason_without_the_token(launcher, registered, caplog):
    login = launcher.login("dep-a")
    forged = registered.sign(
        registered.claims(nonce=login.nonce, deployment_id="dep-a", exp=int(time.time()) - 3600)
    )
    with caplog.at_level(logging.INFO):
        assert launcher.post(forged, login.state).status_code == 400
    refusals = [r.getMessage() for r in caplog.records if "launch refused" in r.getMessage()]
    assert refusals and "expired" in refusals[0].lower()
    assert all(forged not in r.getMessage() for r in caplog.records)


def test_the_log_filter_redacts_tokens_and_stamps_the_request_id():
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '"GET /rostering/?page=2&launch_token=abc.def.ghi HTTP/1.1" 200 %s',
        ("-",),
        None,
    )
    assert RequestContextFilter().filter(record)
    assert record.getMessage() == '"GET /rostering/?page=2&launch_token=[redacted] HTTP/1.1" 200 -'
    assert record.request_id == "-"
    bearer = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "Authorization: Bearer sisi_x1", None, None
    )
    RequestContextFilter().filter(bearer)
    assert "sisi_x1" not in bearer.getMessage()
