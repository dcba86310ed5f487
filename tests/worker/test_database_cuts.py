"""The worker's promises when the database goes away at the worst moment: PostgreSQL behind a
TCP proxy that a hook cuts at a chosen point of the worker's work (claiming, polling, right
after the poll's commit, fanning out, delivering, recording an outcome) and restores a moment
later. The worker's threads live on, nothing stays leased, and the work owed is done within
seconds of the database's return."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import flask_migrate
import pytest
import requests
from sqlalchemy import event, select

from lti_app import create_app
from lti_app.alerts.models import AlertDelivery, DeliveryState
from lti_app.canvas import worker as canvas_worker
from lti_app.canvas.models import CanvasConnection
from lti_app.extensions import db
from lti_app.rostering.models import RosteringJob
from lti_app.timeutil import utcnow
from lti_app.worker import Loop, Worker, alerts_tick
from tests.support.tcp_proxy import TcpProxy, proxied_postgres

from .conftest import delivery_ids, eventually, received_ids

OUTAGE = 1.5  # seconds the database stays away


@pytest.fixture(scope="module")
def proxied() -> Iterator[tuple[TcpProxy, str]]:
    with proxied_postgres("sis_integration_worker_cuts") as (proxy, url):
        app = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": url})
        with app.app_context():
            flask_migrate.upgrade()
            db.engine.dispose()
        yield proxy, url


@pytest.fixture(scope="module")
def database_url(proxied) -> str:
    """Every app of these tests reaches its database through the proxy."""
    return proxied[1]


@pytest.fixture
def proxy(proxied, app) -> Iterator[TcpProxy]:
    yield proxied[0]
    proxied[0].restore()  # before the app's own teardown empties the tables


class Cut:
    """Cuts the database once, in the worker's thread ``loop``, at the first statement that
    ``matches`` (or at the commit that follows it, with ``at_commit``), and restores it
    OUTAGE seconds later."""

    def __init__(self, proxy: TcpProxy, loop: str, matches: Callable[[str], bool], *,
                 at_commit: bool = False) -> None:  # fmt: skip
        self.proxy, self.loop, self.matches, self.at_commit = proxy, loop, matches, at_commit
        self.seen = self.done = False
        self.restored = threading.Event()
        self.restored_at = 0.0  # time.monotonic()
        self.restored_utc = utcnow()

    def __enter__(self) -> Cut:
        db.session.remove()  # the test's own connection goes back to the pool, not in the cut
        event.listen(db.engine, "after_cursor_execute", self._statement)
        event.listen(db.session, "after_commit", self._commit)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(db.engine, "after_cursor_execute", self._statement)
        event.remove(db.session, "after_commit", self._commit)
        self.proxy.restore()

    def _mine(self) -> bool:
        return threading.current_thread().name == self.loop and not self.restored.is_set()

    def _statement(self, connection, cursor, statement: str, *args: Any) -> None:
        if self._mine() and not self.seen and self.matches(statement):
            self.seen = True
            if not self.at_commit:
                self._cut()

    def _commit(self, session: Any) -> None:
        if self.at_commit and self.seen and self._mine() and not self.done:
            self._cut()

    def _cut(self) -> None:
        self.done = True
        self.proxy.cut()
        threading.Timer(OUTAGE, self._restore).start()

    def _restore(self) -> None:
        self.restored_utc = utcnow()
        self.proxy.restore()
        self.restored_at = time.monotonic()
        self.restored.set()


CANVAS_CUTS = {
    "claiming": (lambda s: "FROM canvas_connection" in s and "SKIP LOCKED" in s, False),
    "polling": (lambda s: s.startswith("INSERT INTO rostering_job "), False),
    "after the poll's commit": (
        lambda s: s.startswith("UPDATE canvas_connection SET") and "next_poll_at" in s, True
    ),
}


@pytest.mark.parametrize("where", list(CANVAS_CUTS))
def test_the_canvas_loop_lives_on_and_polls_again_within_its_interval(
    where, app, proxy, canvas, connect_canvas, tenant_ids
):
    canvas.standin.add_history("1", 3)
    connection_id = connect_canvas()
    matches, at_commit = CANVAS_CUTS[where]
    loop = Loop("canvas", canvas_worker.poll_due, 0.1)
    with Cut(proxy, "canvas", matches, at_commit=at_commit) as cut:
        worker = Worker(app, [loop]).start()
        try:
            assert cut.restored.wait(15), "the cut never happened"

            def polled_since_restored() -> bool:
                db.session.rollback()
                polled = db.session.get(CanvasConnection, connection_id, populate_existing=True)
                return polled.last_poll_at is not None and polled.last_poll_at > cut.restored_utc

            # Due a second after its last poll: polled again within that, plus the loop's
            # backoff (at most WORKER_RETRY_MAX_SECONDS, 3 s) and the poll itself.
            took = eventually(polled_since_restored, within=6)
        finally:
            worker.shutdown()
    assert took is not None, f"not polled again within 6 s of the database's return ({where})"
    assert not loop.restarts  # the thread never died
    of_alpha = RosteringJob.tenant_id == tenant_ids["dep-a"]
    jobs = db.session.scalars(select(RosteringJob.canvas_sis_import_id).where(of_alpha)).all()
    assert sorted(jobs) == [1000, 1001, 1002]  # nothing lost, nothing twice
    assert db.session.get(CanvasConnection, connection_id).lease_owner is None


ALERT_CUTS = {
    "fanning out": (lambda s: s.startswith("INSERT INTO alert_delivery"), False),
    "delivering": (lambda s: s.startswith("UPDATE alert_delivery SET lease_owner"), True),
    "recording an outcome": (
        lambda s: s.startswith("UPDATE alert_delivery SET") and "attempts" in s, False
    ),
}


@pytest.mark.parametrize("where", list(ALERT_CUTS))
def test_alerts_owed_when_the_database_returns_arrive_within_5_s(
    where, app, proxy, smtp, receiver, subscribers, fail_a_sync
):
    subscribers(emails=10, hooks=10)
    fail_a_sync("nightly")
    matches, at_commit = ALERT_CUTS[where]
    loop = Loop("alerts", alerts_tick, app.config["ALERT_POLL_SECONDS"])
    with Cut(proxy, "alerts", matches, at_commit=at_commit) as cut:
        worker = Worker(app, [loop]).start()
        try:
            assert cut.restored.wait(15), "the cut never happened"
            took = eventually(lambda: len(set(received_ids(smtp, receiver))) >= 20, within=5)
            arrived = time.monotonic() - cut.restored_at
        finally:
            worker.shutdown()
    assert took is not None, (
        f"{len(set(received_ids(smtp, receiver)))} of 20 alerts within 5 s of the database's "
        f"return ({where})"
    )
    assert arrived <= 5.5
    owed = delivery_ids()
    assert len(owed) == 20
    # At least once: an alert sent again (its outcome was not recorded) keeps its one id.
    assert set(received_ids(smtp, receiver)) == owed
    states = db.session.scalars(select(AlertDelivery.state)).all()
    assert states == [DeliveryState.DELIVERED.value] * 20
    assert not loop.restarts


def test_the_workers_healthz_turns_503_while_a_loop_is_stale_and_200_when_it_recovers(
    app, proxy, smtp, receiver
):
    app.config["WORKER_STALE_SECONDS"] = 1.0
    worker = Worker(app, [Loop("alerts", alerts_tick, 0.1)]).start()
    url = f"http://127.0.0.1:{worker.serve('127.0.0.1', 0)}"

    def health() -> requests.Response:
        return requests.get(f"{url}/healthz", timeout=5)

    try:
        assert eventually(lambda: health().status_code == 200, within=5)
        scrape = requests.get(f"{url}/metrics", timeout=5).text
        assert 'sis_worker_loop_last_success_timestamp{loop="alerts"}' in scrape

        proxy.cut()
        assert eventually(lambda: health().status_code == 503, within=5)
        stale = health().json()
        assert stale["status"] == "unhealthy"
        assert stale["loops"]["alerts"]["running"] is True
        assert stale["loops"]["alerts"]["fresh"] is False
        assert stale["loops"]["alerts"]["failures_in_a_row"] >= 1

        proxy.restore()
        assert eventually(lambda: health().status_code == 200, within=5)
        assert health().json()["loops"]["alerts"]["failures_in_a_row"] == 0
    finally:
        worker.shutdown()
