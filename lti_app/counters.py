"""The counters the tool keeps where things happen (a request answered, a job reaching a final
status, a Canvas poll, an alert delivery, a worker loop's round): the ground floor, importing
only prometheus-client, so any room may count. What reads them, and the database's own
figures, is ``metrics.py``, at the top.

No label names an institution: thousands of institutions would be thousands of series per
metric. Per-institution figures are in each institution's Rostering tab.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "sis_http_requests_total", "HTTP requests answered, by route and status.",
    ["endpoint", "method", "status"],
)  # fmt: skip
HTTP_SECONDS = Histogram(
    "sis_http_request_duration_seconds", "Time to answer an HTTP request, by route.",
    ["endpoint"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
JOBS_FINISHED = Counter(
    "sis_jobs_finished_total", "Rostering jobs reaching a final status.", ["status", "trigger"]
)
CANVAS_POLLS = Counter("sis_canvas_polls_total", "Canvas polls, by outcome.", ["outcome"])
ALERT_DELIVERIES = Counter(
    "sis_alert_deliveries_total", "Tries to deliver an alert, by channel and outcome.",
    ["channel", "outcome"],
)  # fmt: skip
WORKER_LOOP_SUCCESS = Gauge(
    "sis_worker_loop_last_success_timestamp",
    "When a worker loop last completed a round (Unix time).", ["loop"], multiprocess_mode="max",
)  # fmt: skip
WORKER_THREAD_RESTARTS = Counter(
    "sis_worker_thread_restarts_total", "Worker loop threads that ended and were started again.",
    ["loop"],
)  # fmt: skip
DB_CONNECTIONS = Gauge(
    "sis_db_pool_connections_in_use", "Database connections checked out of the pool.",
    multiprocess_mode="livesum",
)  # fmt: skip


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request (the route's rule, never the raw path)."""
    HTTP_REQUESTS.labels(endpoint, method, str(status)).inc()
    HTTP_SECONDS.labels(endpoint).observe(seconds)
