"""The Rostering tab: the schedule, the jobs list, JSON files, details and the CSV download."""

from flask import Blueprint

bp = Blueprint("rostering", __name__, url_prefix="/rostering")

from . import views  # noqa: E402,F401  (routes register on import)
