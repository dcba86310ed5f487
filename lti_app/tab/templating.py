"""What the tool's templates call beyond the formatting every page and email shares: a link to
one of a job's windows, a status's badge, a chart day's label, and the registration of them
all (with the shared formatting) as Jinja filters and globals."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, g, request
from markupsafe import Markup

from ..formatting import (
    ago,
    duration,
    get_locale_name,
    iso_time,
    local_time,
    number,
    percent,
    short_day,
)
from ..i18n import gettext, ngettext
from ..lti.permissions import Need
from ..lti.tokens import tool_url
from ..rostering.models import STATUS_LABELS
from ..rostering.words import tool_word
from . import fragments, queries


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
        # A template module's attributes are its macros, which no type knows of.
        badges[key] = module.status_badge(status, gettext(STATUS_LABELS[status]))  # type: ignore[attr-defined]
    return badges[key]


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
    app.jinja_env.globals["kept"] = fragments.part
    app.jinja_env.globals["header"] = lambda: queries.header_part(g.launch, request.endpoint)
    # What a control needs, named by Canvas's SIS permission (every page, kept parts too).
    app.jinja_env.globals["needs"] = Need
