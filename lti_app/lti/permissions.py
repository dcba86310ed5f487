"""What an admin may do, by Canvas's own SIS permissions.

Canvas expands ``$Canvas.membership.permissions<import_sis,manage_sis,read_sis>`` in the launch
to the subset the admin holds in the launched account (comma-separated, ``""`` for none); a
launch keeps it (``Launch.sis_permissions``). **SIS Data – import** (``import_sis``) lets an
admin start and steer syncs; **SIS Data – manage** (``manage_sis``) also undoes imports and
changes the institution's settings. Both are root-account permissions: sub-account admins never
hold them, and look only. Canvas's own docs point tools to this expansion for real access
control (``required_permissions`` only hides a placement).

A launch without the field (a platform that is not Canvas, a developer key made before it was
asked for) follows ``CANVAS_PERMISSIONS``: ``roles`` (the default) lets account admins act as
they always could, ``require`` makes such launches look-only.
"""

from __future__ import annotations

import enum
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g

from ..i18n import N_
from .errors import NotPermitted
from .models import Launch

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])

IMPORT_SIS, MANAGE_SIS, READ_SIS = "import_sis", "manage_sis", "read_sis"
KNOWN = (IMPORT_SIS, MANAGE_SIS, READ_SIS)
# The custom field, exactly: Canvas splits the list on "," and does not trim.
FIELD = "canvas_sis_permissions"
EXPANSION = "$Canvas.membership.permissions<import_sis,manage_sis,read_sis>"


class Need(enum.Enum):
    """What an action needs: one of these Canvas permissions."""

    ACT = (IMPORT_SIS, MANAGE_SIS)  # Sync now, Pause/Resume, Approve/Reject, Stop an import
    MANAGE = (MANAGE_SIS,)  # Undo an import, settings, connections, webhooks, agent tokens

    @property
    def sentence(self) -> str:
        """Where the control would be: which Canvas permission it needs (to translate)."""
        return _SENTENCES[self]


_SENTENCES = {
    Need.ACT: N_("Needs the SIS Data – import or SIS Data – manage permission in Canvas"),
    Need.MANAGE: N_("Needs the SIS Data – manage permission in Canvas"),
}


def parse(value: str | None) -> str | None:
    """The field as a launch keeps it: the known names granted, in Canvas's order; None when
    the launch did not carry it (absent, or left as the unexpanded ``$Canvas…``: the launch
    reads it through ``_custom``, which gives None for both)."""
    if value is None:
        return None
    granted = set(value.split(","))
    return ",".join(name for name in KNOWN if name in granted)


def may(launch: Launch, need: Need) -> bool:
    """Whether the launch's admin may do what needs ``need``."""
    if launch.sis_permissions is None:
        return bool(current_app.config["CANVAS_PERMISSIONS"] == "roles")
    granted = set(launch.sis_permissions.split(","))
    return any(name in granted for name in need.value)


def requires(need: Need) -> Callable[[F], F]:
    """Refuse the view (403, in the admin's language, nothing changed) unless the launch's
    admin holds ``need``. Goes under ``require_launch``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            require(need, view.__name__)
            return view(*args, **kwargs)

        return cast(F, wrapper)

    return decorate


def require(need: Need, action: str) -> None:
    """Refuse (``NotPermitted``) unless the launch's admin holds ``need``: for a view whose
    need depends on what it acts on (one's own email alert, or someone else's)."""
    if not may(g.launch, need):
        raise NotPermitted(action, need.sentence)
