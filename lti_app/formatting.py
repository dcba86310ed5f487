"""Values written the admin's way, for pages and emails alike: times in their zone ("Nov 26,
2026 9:05am MST"), days, durations, how long ago, numbers and percentages in their language.
A neutral room on the ground floor: it knows no job, no page and no launch token."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache

from babel import Locale
from babel.dates import format_date, format_time, format_timedelta
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit
from flask import g
from flask_babel import get_locale

from .timeutil import as_utc, zone_or_utc

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def local_time(value: datetime | str | None, zone_name: str | None = None) -> str:
    """A time as Canvas shows it, in the launching admin's zone: "Nov 26, 2026 9:05am MST".

    Accepts ISO 8601 text too (stage history keeps its times as text).
    """
    if isinstance(value, str):
        try:
            parsed = as_utc(datetime.fromisoformat(value))
        except ValueError:
            return value
        value = parsed
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


def ago(value: datetime, now: datetime | None = None) -> str:
    """How long ago, in the admin's language: "12 hours ago", "hace 12 horas"."""
    delta = value - (now or datetime.now(UTC))
    return format_timedelta(delta, add_direction=True, locale=get_locale_name())


def duration(minutes: int) -> str:
    """A length of time in the admin's language, in its largest whole unit: "3 hours", "90
    minutes", "3 horas"."""
    return _duration(minutes, get_locale_name())


@lru_cache(maxsize=1024)
def _duration(minutes: int, locale: str) -> str:
    # Babel reads the locale's unit patterns on every call; an institution's few lengths (the
    # stuck-job time on every page) are the same again and again.
    for unit, size in (("duration-day", 1440), ("duration-hour", 60)):
        if minutes % size == 0:
            return format_unit(minutes // size, unit, length="long", locale=locale)
    return format_unit(minutes, "duration-minute", length="long", locale=locale)


def number(value: int) -> str:
    """A whole number with the admin's language's grouping: "1,000", "1.000", "1 000"."""
    return _grouped(value, get_locale_name())


@lru_cache(maxsize=4096)
def _grouped(value: int, locale: str) -> str:
    # Babel reads the locale's patterns on every call: a page's page numbers and counts
    # are the same few numbers again and again.
    return format_decimal(value, locale=locale)


def percent(value: int) -> str:
    """A whole percentage in the admin's language: "80%", "80 %", "80 %"."""
    return format_percent(value / 100, locale=get_locale_name())
