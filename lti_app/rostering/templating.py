"""Template filters that show times in the admin's own time zone."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from flask import Flask, current_app, g
from flask_babel import get_locale
from markupsafe import Markup

from ..i18n import gettext, ngettext
from ..lti.tokens import tool_url
from ..timeutil import as_utc, zone_or_utc
from .models import (
    AWAITING_APPROVAL,
    RESTORING,
    SCHEDULED_POSTER,
    STAGES,
    STATUS_LABELS,
    TYPES,
)

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
    locale = get_locale_name()
    if locale != "en":
        # The admin's language's own order and words ("26 nov 2026, 9:05"), from Babel's CLDR.
        day = format_date(local, "medium", locale=locale)
        return f"{day} {format_time(local, 'short', locale=locale)} {local.tzname()}"
    # Built from the fields (every row of the list shows one; strftime costs 4 times more).
    hour = local.hour % 12 or 12
    half = "am" if local.hour < 12 else "pm"
    month = _MONTHS[local.month - 1]
    return f"{month} {local.day}, {local.year} {hour}:{local.minute:02d}{half} {local.tzname()}"


def get_locale_name() -> str:
    """The request's locale as a catalog name (``pt_BR``)."""
    return str(get_locale() or "en")


def short_day(day: date) -> str:
    """A day as the chart labels it: "Nov 3", "3 nov", "3 de nov."."""
    locale = Locale.parse(get_locale_name())
    return format_date(day, locale.datetime_skeletons["MMMd"], locale=locale)


def iso_time(value: datetime | None) -> str:
    """A time as ISO 8601 UTC, for ``<time datetime>``."""
    return value.isoformat().replace("+00:00", "Z") if value else ""


def job_url(endpoint: str, public_id: str) -> str:
    """A link to one of a job's pages, with the launch token. The URL is built once per page
    and endpoint and reused for every row (public ids are hex, safe in a path)."""
    built: dict[tuple[str, str], str] = g.setdefault("job_url_templates", {})
    # By token too: a part of the page rendered to be kept has a placeholder for it.
    key = (endpoint, g.launch_token)
    if key not in built:
        built[key] = tool_url(endpoint, public_id="JOB-ID")
    return built[key].replace("JOB-ID", public_id, 1)


def status_badge(status: str) -> Markup:
    """A status as its icon and word. There are four; each is rendered once per app (a Jinja
    macro call per row costs more than the rest of the row)."""
    badges: dict[tuple[str, str], Markup] = current_app.extensions.setdefault("status_badges", {})
    key = (get_locale_name(), status)
    if key not in badges:
        module = current_app.jinja_env.get_template("rostering/_status.html").module
        # A macro's output is already escaped Markup.
        badges[key] = module.status_badge(status, gettext(STATUS_LABELS[status]))  # type: ignore[attr-defined]
    return badges[key]


_TOOL_WORDS = frozenset((*STAGES, AWAITING_APPROVAL, RESTORING, *TYPES, SCHEDULED_POSTER))
_PROGRESS = re.compile(r"^(.*) \((\d{1,3})%\)$")


def tool_word(value: str) -> str:
    """A stage, type or poster the tool itself names, in the admin's language ("Canvas Import
    (40%)" keeps its figure); anything an SIS sent is shown as sent."""
    if value in _TOOL_WORDS:
        return gettext(value)
    match = _PROGRESS.match(value)
    if match and match[1] in _TOOL_WORDS:
        return (
            f"{gettext(match[1])} ({format_percent(int(match[2]) / 100, locale=get_locale_name())})"
        )
    return value


def ago(value: datetime, now: datetime | None = None) -> str:
    """How long ago, in the admin's language: "12 hours ago", "hace 12 horas"."""
    delta = value - (now or datetime.now(UTC))
    return format_timedelta(delta, add_direction=True, locale=get_locale_name())


def duration(minutes: int) -> str:
    """A length of time in the admin's language, in its largest whole unit: "3 hours", "90
    minutes", "3 horas"."""
    for unit, size in (("duration-day", 1440), ("duration-hour", 60)):
        if minutes % size == 0:
            return format_unit(minutes // size, unit, length="long", locale=get_locale_name())
    return format_unit(minutes, "duration-minute", length="long", locale=get_locale_name())


def number(value: int) -> str:
    """A whole number with the admin's language's grouping: "1,000", "1.000", "1 000"."""
    return _grouped(value, get_locale_name())


@lru_cache(maxsize=4096)
def _grouped(value: int, locale: str) -> str:
    # Babel reads the locale's patterns on every call: a page's page numbers and counts
    # are the same few numbers again and again.
    return format_decimal(value, locale=locale)


# How the chart's day links name a day's syncs, by status.
_DAY_COUNTS = {
    "completed": lambda n: ngettext("%(num)s completed", "%(num)s completed", n),
    "warning": lambda n: ngettext("%(num)s warning", "%(num)s warnings", n),
    "failed": lambda n: ngettext("%(num)s failed", "%(num)s failed", n),
    "in_progress": lambda n: ngettext("%(num)s in progress", "%(num)s in progress", n),
}


def day_label(day: Any) -> str:
    """What a screen reader says for a day of the chart: "3 Nov: 4 completed, 1 failed"."""
    parts = [_DAY_COUNTS[s](day.counts[s]) for s in _DAY_COUNTS if day.counts.get(s)]
    return gettext(
        "%(day)s: %(counts)s",
        day=short_day(day.day),
        counts=", ".join(parts) if parts else gettext("no syncs"),
    )


def percent(value: int) -> str:
    """A whole percentage in the admin's language: "80%", "80 %", "80 %"."""
    return format_percent(value / 100, locale=get_locale_name())


def register_filters(app: Flask) -> None:
    """Make the filters and helpers available to templates."""
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["number"] = number
    app.jinja_env.filters["duration"] = duration
    app.jinja_env.filters["short_day"] = short_day
    app.jinja_env.filters["tool_word"] = tool_word
    app.jinja_env.globals["day_label"] = day_label
    app.jinja_env.globals["percent"] = percent
    app.jinja_env.globals["status_labels"] = STATUS_LABELS
    app.jinja_env.filters["local_time"] = local_time
    app.jinja_env.filters["iso_time"] = iso_time
    app.jinja_env.globals["job_url"] = job_url
    app.jinja_env.globals["status_badge"] = status_badge
