"""Parts of a page rendered once and kept while what they show stays the same: each is kept
under a key that holds everything it shows (so nothing else can change it), and the launch
token its links carry is put in per request. A worker process keeps a bounded number of them,
the least recently used going first."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

from flask import current_app, g, render_template
from markupsafe import Markup

from ..formatting import get_locale_name

TOKEN_SLOT = "LAUNCH-TOKEN-SLOT"  # noqa: S105 (a placeholder, not a secret)


class Kept:
    """Rendered HTML (with ``TOKEN_SLOT`` for the launch token) by key: at most ``size``
    entries, each reused for at most ``ttl`` seconds (None: while it is among the kept)."""

    def __init__(self, size: int, ttl: float | None = None) -> None:
        self.size, self.ttl = size, ttl
        self._kept: OrderedDict[Hashable, tuple[float, str]] = OrderedDict()
        # A worker's threads (GUNICORN_THREADS, the development server) share it: its order
        # changes on every read, so one thread must not evict what another is moving.
        self._lock = threading.Lock()

    def get(self, key: Hashable, render: Callable[[], str]) -> str:
        """The HTML kept under ``key``, rendered (with the token slot) when there is none."""
        now = time.monotonic()
        with self._lock:
            kept = self._kept.get(key)
            if kept is not None and (self.ttl is None or now - kept[0] <= self.ttl):
                self._kept.move_to_end(key)
                return kept[1]
        # Rendered outside the lock: two threads may both render a new part, the same HTML.
        token, g.launch_token = g.launch_token, TOKEN_SLOT
        try:
            html = render()
        finally:
            g.launch_token = token
        with self._lock:
            self._kept[key] = (now, html)
            self._kept.move_to_end(key)
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)
        return html


def with_token(html: str) -> Markup:
    """Kept HTML with this request's launch token in its links."""
    # Rendered (escaped) templates; the token is URL-safe base64.
    return Markup(html.replace(TOKEN_SLOT, g.launch_token))  # noqa: S704


# The page's other kept parts: a few per institution and admin's language.
_parts = Kept(size=2000)


def part(template: str, shown: Hashable | None) -> Markup:
    """A part of the page (``tab.queries``: the Schedule, held syncs, the filters, the list's
    head and pager) rendered once for the admin's language and zone and kept. Its template
    reads nothing but ``part``, the frozen value of what it shows, which is its key; None
    shows nothing."""
    if shown is None:
        return Markup("")
    key = (template, get_locale_name(), g.launch.timezone, shown)
    return with_token(_parts.get(key, lambda: render_template(template, part=shown)))


# About 2 KB a row: 4,000 rows are 160 pages of 25 in 8 MB a worker.
_rows = Kept(size=4000)


def job_rows(rows: Iterable[Hashable], stuck_for: str) -> Markup:
    """The Rostering Jobs list's rows (``tab.queries.JobRow``), each rendered once for the
    admin's language and zone and kept."""
    context = (get_locale_name(), g.launch.timezone, stuck_for)
    macro = None
    parts = []
    for row in rows:

        def render(row: Hashable = row) -> str:
            nonlocal macro
            if macro is None:
                module = current_app.jinja_env.get_template("rostering/_job_row.html").module
                # A template module's attributes are its macros, which no type knows of.
                macro = module.job_row  # type: ignore[attr-defined]
            return str(macro(row, stuck_for))

        parts.append(_rows.get((context, row), render))
    return with_token("\n".join(parts))
