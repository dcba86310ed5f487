"""``flask worker``: all background work in one process. Each kind of work is a loop of rounds
in a thread of its own, so a long Canvas history (or purge) never delays an alert:

* ``canvas``: polls each connected Canvas when it is due (``canvas/worker.py``);
* ``canvas_actions``: the undo and stop admins asked for, sent to Canvas and followed to their
  end (``canvas/actions.py``);
* ``alerts``: job events become deliveries, due deliveries are sent (``alerts/outbox.py``);
* ``housekeeping``: held syncs nobody decided within HOLD_EXPIRES_HOURS end Failed, syncs
  with no progress for the institution's stuck time are alerted once; once a day
  (one worker of all) each institution's history past its years is removed
  (``rostering/retention.py``), alert deliveries that ended 90 days ago are forgotten, and
  activity older than ACTIVITY_KEEP_DAYS.

Any number of worker processes, on any hosts, share the work through the database's leases.

The worker keeps its promises through faults. A round that fails (the database went away,
the mail server too) is logged with what it was doing and tried again with backoff; its error
path reads nothing from the database. What a failed round leased is given back, or taken up
again at once by the same worker. The main thread supervises: a loop's thread that ends is
logged and started again, and too many restarts end the process with status 1, for systemd or
Kubernetes to restart. A clean stop (SIGTERM, SIGINT) gives back every lease before it exits.
Each loop's last good round is in ``/healthz`` and the metrics on WORKER_METRICS_PORT.
"""

from __future__ import annotations

import json
import logging
import random
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from prometheus_client import make_wsgi_app
from werkzeug.serving import BaseWSGIServer, make_server

from . import activity, counters, metrics
from .alerts import outbox, stuck
from .canvas import actions
from .canvas import worker as canvas_worker
from .extensions import db
from .rostering import approvals, blackouts, retention

log = logging.getLogger(__name__)
HOUSEKEEPING = "housekeeping"  # the daily purge's turn: taken by one worker once a day
PURGING = "purging history past what each institution keeps"
PRUNING = "forgetting old alert deliveries and activity"
DAY = 24 * 3600.0
SUPERVISE_EVERY = 0.5  # seconds between the main thread's looks at its loops
STOP_WITHIN = 20.0  # seconds a clean stop waits for the loops to end their rounds
RESTART_WINDOW = 3600.0  # WORKER_MAX_RESTARTS counts restarts within this many seconds

Doing = Callable[[str], None]


def housekeeping(owner: str, doing: Doing = lambda _: None) -> bool:
    """The daily purge, when it is due and no other worker has done it today. A purge that
    fails gives the day's turn back, so it is tried again at the next round."""
    doing("taking the daily purge's turn")
    if not outbox.take_lease(HOUSEKEEPING, owner, DAY, renew=False):
        return False
    try:
        doing(PURGING)
        removed = retention.purge_all()
        doing(PRUNING)
        pruned = outbox.prune()
        forgotten = activity.purge()
    except BaseException:
        _quietly(lambda: outbox.release_lease(HOUSEKEEPING, owner))
        raise
    log.info(
        "daily purge: %d job(s) past their history, %d old alert(s), %d old activity row(s)",
        sum(removed.values()), pruned, forgotten,
    )  # fmt: skip
    return True


def alerts_tick(owner: str, doing: Doing = lambda _: None) -> bool:
    """One round of the alerts: events into deliveries, then one batch sent. True when
    there was anything to do (the loop goes round again at once)."""
    doing("turning job events into deliveries")
    handled = outbox.fan_out(owner)
    doing("sending due alerts")
    sent = outbox.deliver_due(owner)
    return bool(handled or sum(sent.values()))


def housekeeping_tick(owner: str, doing: Doing = lambda _: None) -> bool:
    """One round of the housekeeping: end held syncs past their time, then the daily purge
    when it is due. Never busy: the loop waits its interval between rounds."""
    doing("ending held syncs past their time")
    approvals.expire(current_app.config["HOLD_EXPIRES_HOURS"])
    doing("looking for syncs with no progress")
    stuck.notice()
    doing("telling of blackouts")
    blackouts.notice()
    housekeeping(owner, doing)
    return False


@dataclass
class Loop:
    """One kind of background work: ``round`` is called again and again (at once while it
    says it was busy, else after ``interval`` seconds) in a thread of its own."""

    name: str
    round: Callable[[str, Doing], bool]
    interval: float
    doing: str = "starting"
    failures: int = 0  # rounds failed in a row
    last_success: float | None = None  # time.time() of the last round that completed
    restarts: deque[float] = field(default_factory=deque)  # time.monotonic() of each
    thread: threading.Thread | None = None


def standard_loops(config: Any) -> list[Loop]:
    """The loops ``flask worker`` runs."""
    return [
        Loop("canvas", canvas_worker.poll_due, 5.0),
        Loop("canvas_actions", actions.tick, 1.0),
        Loop("alerts", alerts_tick, config["ALERT_POLL_SECONDS"]),
        Loop("housekeeping", housekeeping_tick, 60.0),
    ]


class Worker:
    """Runs loops in threads, supervises them, and gives back its leases when it stops."""

    def __init__(self, app: Flask, loops: list[Loop], owner: str | None = None) -> None:
        self.app = app
        self.loops = loops
        self.owner = owner or canvas_worker.worker_name()
        self.stop = threading.Event()
        self.started_at = time.time()
        self.given_up = False  # a loop restarted too often: the process is to end
        self._server: BaseWSGIServer | None = None

    # -- the loops --------------------------------------------------------------------------

    def start(self) -> Worker:
        for loop in self.loops:
            self._start(loop)
        port = self.app.config["WORKER_METRICS_PORT"]
        if port:
            self.serve(self.app.config["WORKER_METRICS_HOST"], port)
        return self

    def _start(self, loop: Loop) -> None:
        loop.thread = threading.Thread(target=self._run, args=(loop,), name=loop.name, daemon=True)
        loop.thread.start()

    def _run(self, loop: Loop) -> None:
        try:
            with self.app.app_context():
                try:
                    self._rounds(loop)
                finally:
                    _quietly(db.session.remove)
        except BaseException:  # the thread ends here; the supervisor starts the loop again
            log.exception("worker loop %s ended unexpectedly while %s", loop.name, loop.doing)

    def _rounds(self, loop: Loop) -> None:
        def doing(what: str) -> None:
            loop.doing = what

        while not self.stop.is_set():
            try:
                busy = loop.round(self.owner, doing)
            except Exception:
                loop.failures += 1
                wait = self._backoff(loop.failures)
                # Only values read before the failure: the database may be gone.
                log.exception(
                    "worker loop %s: round failed while %s (%d in a row); next try in %.1f s",
                    loop.name, loop.doing, loop.failures, wait,
                )  # fmt: skip
                recover()
                self.stop.wait(wait)
                continue
            loop.failures = 0
            loop.last_success = time.time()
            counters.WORKER_LOOP_SUCCESS.labels(loop.name).set(loop.last_success)
            if not busy:
                self.stop.wait(loop.interval)

    def _backoff(self, failures: int) -> float:
        ceiling = self.app.config["WORKER_RETRY_MAX_SECONDS"]
        wait = min(0.5 * 2 ** (failures - 1), ceiling)
        return wait * random.uniform(0.8, 1.0)  # noqa: S311 (jitter, not a secret)

    # -- supervision ------------------------------------------------------------------------

    def supervise_once(self) -> None:
        """Start again any loop whose thread ended; give up (``given_up``, and stop) when one
        ended more than WORKER_MAX_RESTARTS times within the hour."""
        if self.stop.is_set():
            return
        limit = self.app.config["WORKER_MAX_RESTARTS"]
        for loop in self.loops:
            if loop.thread is None or loop.thread.is_alive():
                continue
            now = time.monotonic()
            while loop.restarts and now - loop.restarts[0] > RESTART_WINDOW:
                loop.restarts.popleft()
            if len(loop.restarts) >= limit:
                log.critical(
                    "worker loop %s ended %d times within the hour: stopping the worker for its "
                    "supervisor to restart it",
                    loop.name, len(loop.restarts) + 1,
                )  # fmt: skip
                self.given_up = True
                self.stop.set()
                return
            loop.restarts.append(now)
            counters.WORKER_THREAD_RESTARTS.labels(loop.name).inc()
            log.error(
                "worker loop %s ended; starting it again (%d of %d restarts allowed in an hour)",
                loop.name, len(loop.restarts), limit,
            )  # fmt: skip
            self._start(loop)

    def run(self) -> int:
        """Supervise until told to stop, then stop cleanly. The exit status: 1 when a loop
        was restarted too often, else 0."""
        while not self.stop.wait(SUPERVISE_EVERY):
            self.supervise_once()
        self.shutdown()
        return 1 if self.given_up else 0

    def shutdown(self) -> None:
        """Let each loop end its round (at most STOP_WITHIN seconds in all), then give back
        every lease this worker holds."""
        self.stop.set()
        deadline = time.monotonic() + STOP_WITHIN
        for loop in self.loops:
            if loop.thread is not None:
                loop.thread.join(max(0.0, deadline - time.monotonic()))
        with self.app.app_context():
            self.release_leases()
            db.session.remove()
        if self._server is not None:
            self._server.shutdown()

    def release_leases(self) -> None:
        """Give back the connections, actions, deliveries and tasks this worker holds. The
        day's purge turn stays taken when the purge ended, and goes back when it was cut
        short."""
        cut_short = any(
            lp.doing in (PURGING, PRUNING) and lp.thread is not None and lp.thread.is_alive()
            for lp in self.loops
        )
        keep = () if cut_short else (HOUSEKEEPING,)
        for attempt in range(3):
            try:
                released = canvas_worker.release_all(self.owner)
                released += actions.release_all(self.owner)
                released += outbox.release_all(self.owner, keep=keep)
            except Exception:
                log.warning("could not give back this worker's leases (try %d of 3)", attempt + 1)
                recover()
                time.sleep(1.0)
                continue
            log.info("worker %s stopped: %d lease(s) given back", self.owner, released)
            return
        log.error("worker %s stopped holding its leases: they expire by themselves", self.owner)

    # -- liveness ---------------------------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Whether every loop's thread runs and each completed a round within
        WORKER_STALE_SECONDS, with each loop's figures."""
        now = time.time()
        stale_after = self.app.config["WORKER_STALE_SECONDS"]
        healthy = not self.given_up
        loops: dict[str, Any] = {}
        for loop in self.loops:
            alive = loop.thread is not None and loop.thread.is_alive()
            since = now - (loop.last_success or self.started_at)
            fresh = since <= stale_after
            healthy = healthy and alive and fresh
            loops[loop.name] = {
                "running": alive,
                "fresh": fresh,
                "last_success": _iso(loop.last_success),
                "seconds_since_success": round(since, 1),
                "failures_in_a_row": loop.failures,
                "doing": loop.doing,
                "restarts_in_the_last_hour": len(loop.restarts),
            }
        return healthy, {"status": "ok" if healthy else "unhealthy", "loops": loops}

    def serve(self, host: str, port: int) -> int:
        """Serve ``/healthz`` and the metrics on ``host:port``, in a thread; the port."""
        scrape = make_wsgi_app(metrics.registry(self.app))

        def answer(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("PATH_INFO") != "/healthz":
                return scrape(environ, start_response)
            healthy, body = self.health()
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]

        self._server = make_server(host, port, answer, threaded=True)
        threading.Thread(target=self._server.serve_forever, name="health", daemon=True).start()
        return self._server.server_port


def recover() -> None:
    """After a failed round: end the session's transaction, whatever state its connection is
    in (a rollback on a connection the database dropped is logged, never raised)."""
    _quietly(db.session.rollback)


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception:
        log.warning("worker cleanup step failed (the database is away?)", exc_info=True)


def _iso(moment: float | None) -> str | None:
    return datetime.fromtimestamp(moment, UTC).isoformat() if moment is not None else None


def run_worker(app: Flask, loops: list[Loop], banner: str) -> None:
    """Start ``loops`` under supervision, stop cleanly on SIGTERM or SIGINT, and exit with
    the supervisor's status."""
    worker = Worker(app, loops)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: worker.stop.set())
    worker.start()
    click.echo(f"Worker {worker.owner} started: {banner}.")
    status = worker.run()
    click.echo("Worker stopped." if not status else "Worker stopped: a loop kept failing.")
    if status:
        raise SystemExit(status)


LOOPS = ("canvas", "canvas_actions", "alerts", "housekeeping")


@click.command("worker")
@click.option(
    "--only", "only", multiple=True, type=click.Choice(LOOPS),
    help="Run only this loop (repeatable); all three by default.",
)  # fmt: skip
@with_appcontext
def worker_command(only: tuple[str, ...]) -> None:
    """All background work: Canvas polls, alert delivery, expiry of held syncs, the purge."""
    # Flask types current_app as the app itself; the proxy's object is what threads need.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    loops = [loop for loop in standard_loops(app.config) if not only or loop.name in only]
    run_worker(app, loops, ", ".join(loop.name for loop in loops))


@click.command("worker")
@with_appcontext
def canvas_worker_command() -> None:
    """Canvas alone: the mirror, and the undo and stop admins ask for (as ``flask worker
    --only canvas --only canvas_actions``)."""
    # Flask types current_app as the app itself; the proxy's object is what threads need.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    run_worker(app, standard_loops(app.config)[:2], "canvas, canvas_actions")
