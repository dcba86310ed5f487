"""Connect to Canvas from inside the platform's iframe, in Chromium: Canvas's authorization page
opens in a window of its own (it cannot be framed), and the tab shows the connection when the
window is done."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lti_app.canvas import connections

pytestmark = pytest.mark.browser


@pytest.fixture
def canvas_launches(registered, canvas):
    """Launches from a Canvas whose REST API is the stand-in, with its API key registered."""
    connections.add_api_key(canvas.base_url, canvas.standin.client_id, canvas.standin.client_secret)
    registered.extra_custom = {
        "canvas_api_base_url": canvas.base_url,
        "canvas_root_account_id": "1",
    }
    yield canvas
    registered.extra_custom = {}


def test_connect_to_canvas_from_the_iframe_in_a_window_of_its_own(
    context, open_course, canvas_launches, tenant_ids
):
    _, frame = open_course(context)
    frame.get_by_role("link", name="Settings").click(timeout=15_000)
    expect(frame.get_by_role("heading", name="Canvas SIS imports")).to_be_visible()

    with context.expect_page() as opened:
        frame.get_by_role("button", name=re.compile("^Connect to Canvas")).click()
    window = opened.value
    window.wait_for_load_state()
    assert window.url.startswith(canvas_launches.base_url + "/login/oauth2/auth?")
    window.get_by_role("link", name="Authorize").click()
    expect(window.get_by_role("heading", name="Connected to Canvas")).to_be_visible()
    window.wait_for_event("close", timeout=10_000)  # it closes itself

    # The tab heard the window and reloaded with the connection.
    expect(frame.get_by_text("Connected by Morgan Registrar on")).to_be_visible(timeout=10_000)
    connection = connections.for_tenant(tenant_ids["dep-a"])
    assert connection is not None and connection.method == "oauth"
