"""Metrics for the operator, in Prometheus's text format (prometheus-client): the scrape.

Counters are kept where things happen (``counters.py``, the ground floor); what the database
already knows (jobs in progress, the alerts' backlog, how late the most overdue Canvas poll is)
is read here when Prometheus scrapes, from the models of the rooms below.
Under gunicorn every worker writes its counts to ``PROMETHEUS_MULTIPROC_DIR`` (set by
``gunicorn.conf.py``) and one answer adds them up, a restarted worker's included.

No label names an institution: thousands of institutions would be thousands of series per
metric. Per-institution figures are in each institution's Rostering tab.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event, func, select

from .alerts.models import AlertDelivery, DeliveryState
from .canvas.models import CanvasConnection, ConnectionState
from .counters import (
    ALERT_DELIVERIES,
    CANVAS_POLLS,
    DB_CONNECTIONS,
    HTTP_REQUESTS,
    HTTP_SECONDS,
    JOBS_FINISHED,
    WORKER_LOOP_SUCCESS,
    WORKER_THREAD_RESTARTS,
)
from .extensions import db, reads_only
from .rostering.models import JobStatus, RosteringJob
from .timeutil import as_utc, utcnow

bp = Blueprint("metrics", __name__)


def _pool_in_use(engine: Engine) -> None:
    event.listen(engine.pool, "checkout", lambda *_: DB_CONNECTIONS.inc())
    event.listen(engine.pool, "checkin", lambda *_: DB_CONNECTIONS.dec())


class DatabaseCollector(Collector):
    """What the database knows, read at each scrape: jobs in progress, the alerts' backlog
    and its oldest item's age, and how long past its turn the most overdue Canvas
    connection waits."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self.app.app_context():
            now = utcnow()
            running = db.session.scalar(
                select(func.count()).where(RosteringJob.status == JobStatus.IN_PROGRESS.value)
            )
            backlog, oldest = db.session.execute(
                select(func.count(), func.min(AlertDelivery.created_at)).where(
                    AlertDelivery.state == DeliveryState.PENDING.value
                )
            ).one()
            overdue = db.session.scalar(
                select(func.min(CanvasConnection.next_poll_at)).where(
                    CanvasConnection.state == ConnectionState.ACTIVE
                )
            )
            db.session.remove()
        yield _gauge("sis_jobs_in_progress", "Rostering jobs In Progress.", running or 0)
        yield _gauge("sis_alert_outbox_backlog", "Alert deliveries still owed.", backlog or 0)
        yield _gauge(
            "sis_alert_outbox_oldest_age_seconds",
            "Age of the oldest alert delivery still owed (0 when none).",
            _age(oldest, now),
        )
        yield _gauge(
            "sis_canvas_poll_lag_seconds",
            "How long past its turn the most overdue Canvas connection waits (0 when none).",
            _age(overdue, now),
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _age(moment: datetime | None, now: datetime) -> float:
    return max(0.0, (now - as_utc(moment)).total_seconds()) if moment is not None else 0.0


def registry(app: Flask) -> CollectorRegistry:
    """What one scrape reads: every process's counters (multiprocess mode) or this one's,
    and the database's figures."""
    scrape = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(scrape)
    else:
        for metric in (HTTP_REQUESTS, HTTP_SECONDS, JOBS_FINISHED, CANVAS_POLLS,
                       ALERT_DELIVERIES, WORKER_LOOP_SUCCESS, WORKER_THREAD_RESTARTS,
                       DB_CONNECTIONS):  # fmt: skip
            scrape.register(_Only(metric))
    scrape.register(DatabaseCollector(app))
    return scrape


class _Only(Collector):
    """One of this process's metrics, in a scrape registry of its own."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric

    def collect(self) -> Any:
        return self.metric.collect()


@bp.get("/metrics")
@reads_only
def metrics() -> Response:
    """The metrics, for a scraper presenting ``Authorization: Bearer $METRICS_TOKEN``; 404
    when no token is configured (the endpoint does not exist)."""
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        abort(404)
    auth = request.authorization
    given = auth.token if auth is not None and auth.type == "bearer" else None
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return Response("Send Authorization: Bearer <METRICS_TOKEN>.\n", 401,
                        {"WWW-Authenticate": 'Bearer realm="metrics"'})  # fmt: skip
    # Flask types current_app as the app itself; the registry is kept on the real one.
    body = generate_latest(registry(current_app._get_current_object()))  # type: ignore[attr-defined]
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def register(app: Flask) -> None:
    """Serve /metrics and count the app's database pool's connections in use."""
    app.register_blueprint(bp)
    with app.app_context():
        _pool_in_use(db.engine)
