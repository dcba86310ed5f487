"""Alerts: who is told of an institution's syncs (email, webhooks, Slack, Teams), the outbox
that never loses what is owed them, and the change guard that holds a sync deleting too much
until an admin approves it."""

from flask import Blueprint

bp = Blueprint("alerts", __name__, url_prefix="/alerts")

from . import api, views  # noqa: E402,F401  (routes register on import)
