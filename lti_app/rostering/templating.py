"""Template filters that show times in the admin's own time zone."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, current_app, g
from markupsafe import Markup

from ..lti.tokens import tool_url
from ..timeutil import as_utc, zone_or_utc
from .models import STATUS_LABELS

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_time(value: datetime | str | None, zone_name: str | None = None) -> str:
    """A time as Canvas shows it, in the launching admin's zone: "Nov 26, 2026 9:05am MST".

    Accepts ISO 8601 text too (stage history keeps its times as text).
    """
    if isinstance(value, str):
        try:
            value = as_utc(datetime.fromisoformat(value))
        except ValueError:
            return value
    if value is None:
        return ""
    try:
        local = value.astimezone(zone_or_utc(zone_name or g.launch.timezone))
    except OverflowError:
        # A time at the very edge of the calendar (year 1 or 9999) has no local time in every
        # zone: show it in UTC rather than fail the page.
        return value.strftime("%b %-d, %Y %-I:%M%p UTC")
    # Built from the fields (every row of the list shows one; strftime costs 4 times more).
    hour = local.hour % 12 or 12
    half = "am" if local.hour < 12 else "pm"
    month = _MONTHS[local.month - 1]
    return f"{month} {local.day}, {local.year} {hour}:{local.minute:02d}{half} {local.tzname()}"


def iso_time(value: datetime | None) -> str:
    """A time as ISO 8601 UTC, for ``<time datetime>``."""
    return value.isoformat().replace("+00:00", "Z") if value else ""


def job_url(endpoint: str, public_id: str) -> str:
    """A link to one of a job's pages, with the launch token. The URL is built once per page
    and endpoint and reused for every row (public ids are hex, safe in a path)."""
    built: dict[str, str] = g.setdefault("job_url_templates", {})
    if endpoint not in built:
        built[endpoint] = tool_url(endpoint, public_id="JOB-ID")
    return built[endpoint].replace("JOB-ID", public_id, 1)


def status_badge(status: str) -> Markup:
    """A status as its icon and word. There are four; each is rendered once per app (a Jinja
    macro call per row costs more than the rest of the row)."""
    badges: dict[str, Markup] = current_app.extensions.setdefault("status_badges", {})
    if status not in badges:
        module = current_app.jinja_env.get_template("rostering/_status.html").module
        # A macro's output is already escaped Markup.
        badges[status] = module.status_badge(status, STATUS_LABELS[status])  # type: ignore[attr-defined]
    return badges[status]


def ago(value: datetime, now: datetime | None = None) -> str:
    """How long ago, in the largest whole unit: "5 minutes ago", "3 days ago"."""
    seconds = int(((now or datetime.now(UTC)) - value).total_seconds())
    if seconds < 60:
        return "just now"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def register_filters(app: Flask) -> None:
    """Make the filters and helpers available to templates."""
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.globals["status_labels"] = STATUS_LABELS
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["iso_time"] = iso_time
    app.jinja_env.globals["job_url"] = job_url
    app.jinja_env.globals["status_badge"] = status_badge
