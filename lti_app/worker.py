"""``flask worker``: all background work in one process. Each kind of work keeps its own loop,
in a thread of its own, so a long Canvas history (or purge) never delays an alert:

* the Canvas mirror (``canvas/worker.py``): polls each connected Canvas when it is due;
* alerts (``alerts/outbox.py``): job events become deliveries, due deliveries are sent;
* the change guard's clock: held syncs nobody decided within HOLD_EXPIRES_HOURS end Failed;
* once a day (one worker of all): each institution's history past its years is removed
  (``rostering/retention.py``), and alert deliveries that ended 90 days ago are forgotten.

Any number of worker processes, on any hosts, share the work through the database's leases.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from . import metrics
from .alerts import outbox
from .canvas import worker as canvas_worker
from .extensions import db
from .rostering import approvals, retention

log = logging.getLogger(__name__)
EXPIRY_EVERY = 60.0  # seconds between looks for held syncs past their time
HOUSEKEEPING = "housekeeping"  # the daily purge's lease: taken by one worker once a day
DAY = 24 * 3600.0


def housekeeping(owner: str) -> bool:
    """The daily purge, when it is due and no other worker has done it today."""
    if not outbox.take_lease(HOUSEKEEPING, owner, DAY, renew=False):
        return False
    removed = retention.purge_all()
    pruned = outbox.prune()
    log.info(
        "daily purge: %d job(s) past their history, %d old alert(s)", sum(removed.values()), pruned
    )
    return True


def alerts_tick(owner: str) -> bool:
    """One round of the alerts: events into deliveries, then one batch sent. True when
    there was anything to do (the loop goes round again at once)."""
    handled = outbox.fan_out(owner)
    sent = outbox.deliver_due(owner)
    return bool(handled or sum(sent.values()))


def run_alerts(owner: str, stop: threading.Event) -> None:
    """Deliver alerts until ``stop`` is set, looking for new ones every ALERT_POLL_SECONDS."""
    poll = current_app.config["ALERT_POLL_SECONDS"]
    while not stop.is_set():
        busy = False
        try:
            busy = alerts_tick(owner)
        except Exception:  # the database or the mail server is away: wait and try again
            log.exception("alert delivery round failed")
            db.session.rollback()
        if not busy:
            stop.wait(poll)


def run_housekeeping(owner: str, stop: threading.Event) -> None:
    """End held syncs past their time once a minute, and purge once a day, until ``stop``:
    in a thread of its own, so a long purge never delays an alert."""
    hours = current_app.config["HOLD_EXPIRES_HOURS"]
    while not stop.is_set():
        try:
            approvals.expire(hours)
            housekeeping(owner)
        except Exception:  # the database is away: try again next minute
            log.exception("housekeeping round failed")
            db.session.rollback()
        stop.wait(EXPIRY_EVERY)


def _in_thread(app: Flask, name: str, loop: Callable[[], None]) -> threading.Thread:
    def run() -> None:
        with app.app_context():
            loop()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


@click.command("worker")
@with_appcontext
def worker_command() -> None:
    """All background work: Canvas polls, alert delivery, expiry of held syncs, the purge."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.config["WORKER_METRICS_PORT"]:
        metrics.serve_for_worker(app, app.config["WORKER_METRICS_PORT"])
    owner = canvas_worker.worker_name()
    threads = [
        _in_thread(app, "canvas", lambda: canvas_worker.run_forever(owner, stop)),
        _in_thread(app, "alerts", lambda: run_alerts(owner, stop)),
        _in_thread(app, "housekeeping", lambda: run_housekeeping(owner, stop)),
    ]
    click.echo(f"Worker {owner} started: Canvas mirror, alerts, held syncs, daily purge.")
    while not stop.wait(1.0):
        pass
    for thread in threads:
        thread.join(timeout=30)
    click.echo("Worker stopped.")
