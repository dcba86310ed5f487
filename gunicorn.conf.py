"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app`` (``make serve``).

Any worker can serve any request: nonces, login state, launches and sync claims all live in
the database, so workers (and hosts) share nothing else.
"""

import os
import tempfile
from pathlib import Path

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
# Requests through the TLS-terminating proxy on this host keep their X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# %(U)s is the path without its query string: launch tokens travel in query strings.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms "%({x-request-id}o)s"'
# gunicorn's own error and access lines are redacted like the app's (tokens never in a log).
logger_class = "lti_app.observability.GunicornLogger"

# Metrics (/metrics, lti_app/metrics.py): every worker writes its counts to one folder, and
# one answer adds them up. The folder is emptied when the server starts; a worker that exits
# keeps its counters there (its live gauges are dropped).
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="sis-integration-metrics-")
Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)


def on_starting(server):
    for stale in Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
