"""Every route behind the launch token, found in the app's own ``url_map`` (a route added later
is in these matrices without anyone listing it): without a launch token, or with an altered
one, it refuses and changes nothing; an admin of another institution gets 404 for any of this
institution's objects, whatever id is sent, and changes nothing."""

from __future__ import annotations

import pytest
from werkzeug.routing import Rule

from lti_app import create_app

from .conftest import World, snapshot

# The one route of these blueprints that takes no launch token: Canvas's OAuth callback, which
# carries its own signed state (tests/canvas/test_connecting.py).
NOT_BEHIND_THE_TOKEN = {"canvas.oauth_callback"}


_APP = create_app({"APP_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
_MAP = {rule.endpoint: rule for rule in _APP.url_map.iter_rules()}
RULES = sorted(
    (endpoint, "POST" if "POST" in (rule.methods or set()) else "GET")
    for endpoint, rule in _MAP.items()
    if endpoint.split(".")[0] in ("rostering", "canvas") and endpoint not in NOT_BEHIND_THE_TOKEN
)


def _path(rule: Rule, world: World) -> str:
    """The rule's URL with this world's objects (Alpha College's) for its arguments."""
    values = {
        "public_id": world.finished_import,
        "recipient_id": world.other,
        "token_id": world.token,
        "blackout_id": world.blackout,
        "index": 0,
        "decision": "approve",
        "action": "pause",
    }
    path = rule.rule
    for name in rule.arguments:
        path = path.replace(f"<{name}>", str(values[name]))
        for converter in ("int", "any(approve, reject)", "any(pause, resume)"):
            path = path.replace(f"<{converter}:{name}>", str(values[name]))
    assert "<" not in path, f"give {rule.endpoint}'s arguments a value: {path}"
    return path


def test_the_matrix_covers_the_tab(world):
    endpoints = {endpoint for endpoint, _ in RULES}
    assert {"rostering.index", "rostering.job_details", "rostering.restore",
            "rostering.activity_page", "canvas.disconnect"} <= endpoints  # fmt: skip


@pytest.mark.parametrize(("endpoint", "method"), RULES)
@pytest.mark.parametrize("token", ["none", "altered"])
def test_no_launch_token_or_an_altered_one_is_refused(client, world, launch_as, endpoint, method, token):  # noqa: E501
    sent = {"none": None, "altered": launch_as()[:-3] + "xyz"}[token]
    before = snapshot()
    path = _path(_MAP[endpoint], world)
    field = {} if sent is None else {"launch_token": sent}
    if method == "POST":
        answer = client.post(path, data=field)
    else:
        answer = client.get(path, query_string=field)
    assert answer.status_code == 401, (endpoint, answer.status_code)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("endpoint", "method"), [(e, m) for e, m in RULES if _MAP[e].arguments - {"decision", "action"}]
)
def test_another_institutions_admin_gets_404_for_this_ones_objects(client, world, launch_as, endpoint, method):  # noqa: E501
    token = launch_as(deployment="dep-b")  # every permission, in Beta University
    before = snapshot(leave_out=("activity", "lti_launch", "sync_request"))
    path = _path(_MAP[endpoint], world)
    if method == "POST":
        answer = client.post(path, data={"launch_token": token, "mode": "everything"})
    else:
        answer = client.get(path, query_string={"launch_token": token})
    assert answer.status_code == 404, (endpoint, answer.status_code)
    assert snapshot(leave_out=("activity", "lti_launch", "sync_request")) == before
