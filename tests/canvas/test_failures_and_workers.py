"""What Canvas misbehaving does (401, rate limits, 5xx, timeouts), and workers racing."""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Flask
from sqlalchemy import func, select

from lti_app import crypto
from lti_app.canvas import connections, worker
from lti_app.canvas.client import CanvasClient, CanvasUnavailable
from lti_app.canvas.models import CanvasConnection
from lti_app.dev.standin import Fault, rate_limited
from lti_app.extensions import db
from lti_app.rostering.models import RosteringJob
from lti_app.worker import Loop, Worker
from tests.support.race import race

from .conftest import canvas_launch, count_jobs


def _client(canvas, app, sleeps: list[float]) -> CanvasClient:
    return CanvasClient(
        canvas.base_url, canvas.standin.issue_token(), "1", config=app.config, sleep=sleeps.append
    )


def test_rate_limit_answers_back_off_with_jitter_then_resume(canvas, app):
    canvas.standin.add_history("1", 150)
    canvas.standin.faults.extend([rate_limited(), Fault(429, "Too Many Requests")])
    sleeps: list[float] = []
    client = _client(canvas, app, sleeps)

    pages = list(client.import_pages())

    assert [len(p) for p in pages] == [100, 50]
    backoff, paced, backoff_again = sleeps
    # Doubling from 0.01 s, each with jitter between half and one and a half of its step.
    assert 0.005 <= backoff <= 0.015 and 0.01 <= backoff_again <= 0.03
    # Canvas's 403 said the bucket was empty: the retry itself was spaced out too.
    assert paced == 0.02
    assert client.requests == 4


def test_a_low_rate_limit_bucket_spaces_requests_out(canvas, app):
    canvas.standin.add_history("1", 250)
    canvas.standin.rate_limit_remaining = 20.0
    sleeps: list[float] = []
    client = _client(canvas, app, sleeps)
    list(client.import_pages())
    # After each answer reporting 20 of the 200 floor left, the next request waits.
    assert len(sleeps) == 2 and all(s > 0 for s in sleeps)

    canvas.standin.rate_limit_remaining = 650.0
    sleeps.clear()
    list(_client(canvas, app, sleeps).import_pages())
    assert sleeps == []


def test_timeouts_and_5xx_are_retried_then_given_up_until_the_next_poll(canvas, app, connect, poll):
    app.config["CANVAS_TIMEOUT_SECONDS"] = 0.5
    canvas.standin.add_history("1", 10)
    canvas.standin.faults.extend([Fault(status=0, delay=1.0), Fault(503)])
    sleeps: list[float] = []
    assert sum(len(p) for p in _client(canvas, app, sleeps).import_pages()) == 10
    assert len(sleeps) == 2

    canvas.standin.faults.extend([Fault(500)] * 3)
    sleeps.clear()
    client = _client(canvas, app, sleeps)
    try:
        list(client.import_pages())
        raise AssertionError("expected CanvasUnavailable")
    except CanvasUnavailable:
        pass
    assert client.requests == 3  # CANVAS_MAX_ATTEMPTS in these tests


def test_a_401_refreshes_an_oauth_token_once(canvas, connect, poll, tenant_ids):
    canvas.standin.add_history("1", 4)
    refresh_token = "refresh-me"
    canvas.standin.refresh_tokens.add(refresh_token)
    connections.add_api_key(canvas.base_url, canvas.standin.client_id, canvas.standin.client_secret)
    connection = connect(method="oauth", access_token="revoked-token", refresh_token=refresh_token)

    assert list(poll().values()) == ["ok: 4 job(s) changed"]

    db.session.refresh(connection)
    assert connection.state == "active"
    assert crypto.decrypt(connection.access_token_encrypted) in canvas.standin.tokens
    assert count_jobs(tenant_ids["dep-a"]) == 4


def test_a_401_that_a_refresh_cannot_cure_needs_reconnecting(
    canvas, connect, poll, launcher, client, runner
):
    connections.add_api_key(canvas.base_url, canvas.standin.client_id, canvas.standin.client_secret)
    connection = connect(method="oauth", access_token="revoked-token", refresh_token="revoked-too")

    assert list(poll().values()) == ["needs reconnecting"]
    db.session.refresh(connection)
    assert connection.needs_reconnecting
    # No more polls until someone connects again.
    assert poll() == {}

    status = runner.invoke(args=["canvas", "status"])
    assert "NEEDS RECONNECTING" in status.output

    # Canvas's API base URL and root account, as the launch reports them: the tab can reconnect.
    token = canvas_launch(launcher, canvas)
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "Connect to Canvas again" in page and "Open Settings</a>" in page
    page = client.get("/rostering/settings", query_string={"launch_token": token}).get_data(True)
    assert "Connect to Canvas again" in page
    assert "Reconnect to Canvas" in page


def test_a_hand_made_token_that_canvas_refuses_needs_reconnecting(
    canvas, connect, poll, launcher, client
):
    connection = connect(access_token="never-valid")
    assert list(poll().values()) == ["needs reconnecting"]
    db.session.refresh(connection)
    assert connection.needs_reconnecting
    # No API key: the tab cannot connect, so it says who can (not "connect again").
    token = launcher.admin_token("dep-a")
    page = client.get("/rostering/", query_string={"launch_token": token}).get_data(as_text=True)
    assert "Ask your SIS Integration operator to renew it (flask canvas connect)." in page
    assert "Connect to Canvas again" not in page and "Reconnect to Canvas" not in page


def test_two_workers_racing_store_each_import_once_and_poll_each_institution_once(
    canvas, connect, make_app, tenant_ids
):
    canvas.standin.add_history("1", 400, start_id=1000)
    canvas.standin.add_history("2", 400, start_id=5000)
    connect("dep-a", account="1")
    connect("dep-b", account="2")
    # Two workers' apps, made before the race (making an app is not what races here).
    apps = [make_app(CANVAS_BACKOFF_SECONDS=0.01) for _ in range(2)]

    def run(worker_app: Flask) -> Callable[[], dict[int, str]]:
        def poll() -> dict[int, str]:
            with worker_app.app_context():
                outcome = worker.poll_all(worker.worker_name())
                db.session.remove()
                return outcome

        return poll

    outcomes = race(*(run(a) for a in apps))

    polled = [cid for outcome in outcomes for cid in outcome]
    assert sorted(polled) == sorted(c.id for c in db.session.scalars(select(CanvasConnection)))
    # Each institution's history was read once: four pages each, never eight.
    assert len(canvas.list_requests("1")) == 4 and len(canvas.list_requests("2")) == 4
    for deployment in ("dep-a", "dep-b"):
        distinct = db.session.scalar(
            select(func.count(func.distinct(RosteringJob.canvas_sis_import_id))).where(
                RosteringJob.tenant_id == tenant_ids[deployment]
            )
        )
        assert count_jobs(tenant_ids[deployment]) == distinct == 400


def test_the_worker_polls_whats_due_and_stops_when_told(canvas, connect, app, tenant_ids):
    canvas.standin.add_history("1", 3)
    connect()
    running = Worker(app, [Loop("canvas", worker.poll_due, 0.05)]).start()
    try:
        for _ in range(100):
            if count_jobs(tenant_ids["dep-a"]) == 3:
                break
            time.sleep(0.05)
            db.session.rollback()
    finally:
        running.shutdown()
    assert not running.loops[0].thread.is_alive()
    assert count_jobs(tenant_ids["dep-a"]) == 3
    db.session.rollback()
    assert db.session.scalar(select(CanvasConnection.lease_owner)) is None
