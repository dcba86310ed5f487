"""Dynamic Registration in Chromium, inside the platform's frame, under each cookie set-up:
review, install, and the close message the platform receives."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lti_app.extensions import db
from lti_app.lti.models import Platform

pytestmark = pytest.mark.browser


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"REGISTRATION_ALLOWED_HOSTS": ["127.0.0.1"]}


@pytest.mark.parametrize("settings", ["context", "third_party_blocked_context", "blocking_context"])
def test_install_with_one_url_in_the_platforms_frame(request, platform, tool_url, settings):
    context = request.getfixturevalue(settings)
    platform.registrations.clear()
    page = context.pages[0] if context.pages else context.new_page()
    page.goto(platform.base_url + "/developer-keys")
    frame = page.frame_locator("iframe#registration")
    expect(frame.get_by_role("heading", name="Install SIS Integration")).to_be_visible()
    expect(frame.get_by_text("Alpha College Canvas").first).to_be_visible()

    frame.get_by_role("button", name="Install SIS Integration").click()

    expect(frame.get_by_role("heading", name="SIS Integration is installed")).to_be_visible()
    expect(page.locator("#closed")).to_have_text("Registration closed")
    assert {"subject": "org.imsglobal.lti.close"} in page.evaluate("window.received")
    (registered,) = db.session.scalars(select(Platform)).all()
    assert registered.registered_via == "dynamic"
