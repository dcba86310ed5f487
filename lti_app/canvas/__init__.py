"""Canvas as a data source: the REST client and its backoff, the OAuth flow, the mirror that
turns each Canvas SIS import into a rostering job, and the worker that keeps it in step."""

from flask import Blueprint

bp = Blueprint("canvas", __name__, url_prefix="/canvas")

from . import views  # noqa: E402,F401  (routes register on import)
