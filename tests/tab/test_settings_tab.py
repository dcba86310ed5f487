"""The page's three tabs: Rostering keeps what Canvas's guide shows (Schedule, the Rostering Jobs
list) with held syncs and health; Settings holds what an admin sets; each is a page of its own in
the frame, and a problem fixed in Settings is still said on Rostering, with a link there."""

from __future__ import annotations

import re

import pytest

from lti_app.canvas import connections
from lti_app.canvas.models import ConnectionState
from lti_app.canvas.worker import RECONNECT
from lti_app.extensions import db

ROSTERING_ONLY = ('id="schedule-heading"', 'id="jobs-heading"', 'id="health-heading"', "data-hold=")
SETTINGS_ONLY = ('id="canvas-heading"', 'id="blackouts-heading"', 'id="alerts-heading"',
                 'id="tokens-heading"', 'id="history-heading"')  # fmt: skip


def get(client, path: str, token: str) -> str:
    answer = client.get(path, query_string={"launch_token": token})
    assert answer.status_code == 200, answer.status_code
    return answer.get_data(as_text=True)


def current_tab(html: str) -> list[str]:
    return re.findall(r'class="tabs__tab" href="[^"]*"\s*aria-current="page">([^<]+)<', html)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_each_tab_is_a_page_of_its_own_with_the_launch_token_carried(
    client, world, launch_as, locale, registered
):
    registered.locale = locale
    try:
        token = launch_as()
        rostering = get(client, "/rostering/", token)
        settings = get(client, "/rostering/settings", token)
        activity = get(client, "/rostering/activity", token)
    finally:
        registered.locale = None
    names = {"en": ["Rostering", "Settings", "Activity"],
             "es": ["Matriculación", "Configuración", "Actividad"]}[locale]  # fmt: skip
    assert [current_tab(page) for page in (rostering, settings, activity)] == [[n] for n in names]
    for page in (rostering, settings, activity):
        links = re.findall(r'class="tabs__tab" href="([^"]+)"', page)
        assert len(links) == 3, links
        assert all("launch_token=" in link for link in links), links
        assert "js/frame-resize.js" in page  # lti.frameResize, as every page of the frame
    assert all(part in rostering for part in ROSTERING_ONLY)
    assert not any(part in rostering for part in SETTINGS_ONLY)
    assert all(part in settings for part in SETTINGS_ONLY)
    assert not any(part in settings for part in ROSTERING_ONLY)


def test_rostering_says_what_needs_an_admin_in_settings_in_settings_words(
    client, world, launch_as, tenant_ids, app
):
    token = launch_as()
    assert "Open Settings" not in get(client, "/rostering/", token)  # nothing to fix yet

    connection = connections.for_tenant(tenant_ids["dep-a"])
    connection.state = ConnectionState.NEEDS_RECONNECTING
    connection.problem = RECONNECT
    db.session.commit()
    app.config["MAIL_SERVER"] = None  # the world has email recipients: they would hear nothing
    rostering = get(client, "/rostering/", token)
    settings = get(client, "/rostering/settings", token)
    for words in (connection.problem, "Email is not set up on this SIS Integration server"):
        assert words in rostering and words in settings
    assert rostering.count(">Open Settings</a>") == 2
    assert "/rostering/settings?launch_token=" in rostering
    # The held sync is decided where admins look first: Rostering, and only there.
    assert f"/rostering/holds/{world.held}/approve" in rostering
    assert f"/rostering/holds/{world.held}/approve" not in settings


def test_a_settings_action_comes_back_to_settings_and_a_hold_decision_to_rostering(
    client, world, launch_as
):
    token = launch_as()
    saved = client.post("/rostering/history", data={"launch_token": token, "years": "2"})
    assert saved.status_code == 303 and "/rostering/settings?" in saved.location
    assert saved.location.endswith("#history")
    decided = client.post(f"/rostering/holds/{world.held}/approve", data={"launch_token": token})
    assert decided.status_code == 303 and "/rostering/?" in decided.location
    refused = client.post("/rostering/tokens", data={"launch_token": token, "name": ""})
    assert refused.status_code == 422
    assert 'id="tokens-heading"' in refused.get_data(as_text=True)  # the Settings page, again
