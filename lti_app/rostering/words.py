"""The words of the job store the tool itself names (stages, types, the scheduled poster), in
the admin's language; anything an SIS sent is shown as sent. Pages and emails both say them."""

from __future__ import annotations

import re

from ..formatting import percent
from ..i18n import gettext
from .models import AWAITING_APPROVAL, RESTORING, SCHEDULED_POSTER, STAGES, TYPES

_TOOL_WORDS = frozenset((*STAGES, AWAITING_APPROVAL, RESTORING, *TYPES, SCHEDULED_POSTER))
_PROGRESS = re.compile(r"^(.*) \((\d{1,3})%\)$")


def tool_word(value: str) -> str:
    """A stage, type or poster the tool itself names, in the admin's language ("Canvas Import
    (40%)" keeps its figure); anything an SIS sent is shown as sent."""
    if value in _TOOL_WORDS:
        return gettext(value)
    match = _PROGRESS.match(value)
    if match and match[1] in _TOOL_WORDS:
        return f"{gettext(match[1])} ({percent(int(match[2]))})"
    return value
