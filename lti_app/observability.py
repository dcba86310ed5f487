"""Request ids, structured logs and the health check.

Every request gets an id (the proxy's ``X-Request-ID`` if it sent a sane one), returned in the
response and stamped on every log line of that request. Logs are JSON in production. Launch
tokens and bearer tokens never reach a log line: a filter redacts them wherever they appear.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from flask import Blueprint, Flask, Response, g, has_request_context, jsonify, request
from gunicorn import glogging
from pythonjsonlogger.json import JsonFormatter
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import counters
from .extensions import db, reads_only

log = logging.getLogger("lti_app.requests")
bp = Blueprint("health", __name__)

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SECRETS = re.compile(
    r"(launch_token=|registration_token=|access_token=|refresh_token=|client_secret=|[?&]code="
    r"|id_token=|Bearer\s+)[^&\s\"']+",
    re.IGNORECASE,
)


class RedactingFilter(logging.Filter):
    """Redact tokens from a record's text, wherever they appear in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if _SECRETS.search(message):
            record.msg, record.args = _SECRETS.sub(r"\1[redacted]", message), None
        return True


class RequestContextFilter(RedactingFilter):
    """Stamp the request id on records and redact tokens from their text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return super().filter(record)


class GunicornLogger(glogging.Logger):
    """gunicorn's own lines, access and error, redacted like the app's (its error line for a
    failed request names the full URL, launch token and all)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for logger in (self.error_log, self.access_log):
            for handler in logger.handlers:
                handler.addFilter(RedactingFilter())


def configure_logging(json_logs: bool) -> None:
    """Send logs to stderr, as JSON or as text, once per process."""
    root = logging.getLogger()
    if any(getattr(h, "sis_integration", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    # A mark on our own handler, so a second set-up does not add another.
    handler.sis_integration = True  # type: ignore[attr-defined]
    handler.addFilter(RequestContextFilter())
    if json_logs:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s")
        )
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def _begin() -> None:
    incoming = request.headers.get("X-Request-ID", "")
    g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id", "-")
    started = g.get("request_started")
    if started is not None:
        seconds = time.perf_counter() - started
        duration_ms = round(seconds * 1000, 1)
        rule = request.url_rule.rule if request.url_rule is not None else "(no route)"
        counters.observe_request(rule, request.method, response.status_code, seconds)
        # The server's own time, for browsers' developer tools and for clients that measure
        # (a streamed body, the CSV, is still being sent when this is taken).
        response.headers["Server-Timing"] = f"app;dur={duration_ms}"
        # The path only: query strings carry launch tokens.
        log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": duration_ms,
            },
        )
    return response


@bp.get("/healthz")
@reads_only
def healthz() -> tuple[Response, int]:
    """200 when the database answers, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        db.session.rollback()
        return jsonify({"status": "unavailable", "database": "unreachable"}), 503
    return jsonify({"status": "ok", "database": "ok"}), 200


def register(app: Flask) -> None:
    """Install request ids, request logging and /healthz."""
    configure_logging(app.config["LOG_FORMAT"] == "json")
    app.before_request(_begin)
    app.after_request(_finish)
    app.register_blueprint(bp)
