"""Who may do what: every state-changing route behind the launch token, found in the app's own
``url_map`` (a route added later fails here until the table says what it needs), called by an
admin with each set of Canvas SIS permissions. Permitted: it acts and adds exactly one activity
row. Refused: 403 in the admin's words, the database unchanged, one ``denied`` row."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from lti_app import create_app
from lti_app.activity.models import Activity
from lti_app.extensions import db

from .conftest import calls, snapshot

PERMISSIONS = {
    "manage_sis": ("import_sis,manage_sis", "roles", {"act", "manage"}),
    "import_sis only": ("import_sis", "roles", {"act"}),
    "read_sis only": ("read_sis", "roles", set()),
    "none (a sub-account admin)": ("", "roles", set()),
    "absent, CANVAS_PERMISSIONS=roles": (None, "roles", {"act", "manage"}),
    "absent, CANVAS_PERMISSIONS=require": (None, "require", set()),
}
SENTENCES = {
    "act": "Needs the SIS Data – import or SIS Data – manage permission in Canvas",
    "manage": "Needs the SIS Data – manage permission in Canvas",
}


def launch_token_routes(app) -> list[str]:
    """The endpoints that change something and take the launch token: every non-GET rule
    of the tab's and the Canvas connection's blueprints."""
    return sorted(
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.split(".")[0] in ("rostering", "canvas")
        and (rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}
    )


# Built from the app's own routes: a route added later is in this matrix without anyone
# listing it, and fails until tests/tab/conftest.py says what it needs.
ROUTES = launch_token_routes(
    create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
)


def test_every_state_changing_route_says_what_it_needs(world):
    assert sorted(calls(world)) == ROUTES, (
        "a route was added or removed: give it its need and its activity in tests/tab/conftest.py"
    )


def activity_rows() -> list[Activity]:
    db.session.rollback()
    return list(db.session.scalars(select(Activity).order_by(Activity.id)))


@pytest.mark.parametrize("who", list(PERMISSIONS))
@pytest.mark.parametrize("endpoint", ROUTES)
def test_each_route_with_each_set_of_permissions(app, client, world, launch_as, who, endpoint):
    field, setting, holds = PERMISSIONS[who]
    app.config["CANVAS_PERMISSIONS"] = setting
    call = calls(world)[endpoint]
    token = launch_as(field)
    before = snapshot()

    answer = client.post(call.path, data={"launch_token": token, **call.form})

    rows = activity_rows()
    if call.need in holds:
        assert answer.status_code in (200, 201, 303), answer.get_data(True)
        assert (snapshot() != before) is call.changes
        assert [(r.action, r.actor) for r in rows] == [(call.action, "Avery Admin")]
    else:
        assert answer.status_code == 403
        assert SENTENCES[call.need] in answer.get_data(as_text=True)
        assert snapshot() == before  # nothing changed
        assert [(r.action, r.tried) for r in rows] == [("denied", endpoint)]
