"""Who may do what, in Chromium inside the platform's iframe: a look-only admin (a sub-account
admin: Canvas grants no SIS permission) sees what each control needs and no live button; an
admin with SIS Data – manage makes an agent token and copies it; the Activity tab lists it. axe
finds nothing on any of them, in English and Spanish."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .test_accessibility import _tool_frame, axe_context, violations  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("locale", ["en", "es"])
def test_look_only_token_and_activity_have_no_axe_violations(
    axe_context, open_course, registered, make_job, locale  # noqa: F811
):
    make_job()
    registered.locale = locale
    found = {}
    try:
        registered.extra_custom = {"canvas_sis_permissions": ""}
        page, frame = open_course(axe_context)
        expect(frame.locator("#jobs-heading")).to_be_visible(timeout=15_000)
        expect(frame.locator('form[action="/rostering/sync_requests"]')).to_have_count(0)
        if locale == "en":
            expect(
                frame.get_by_text("Sync now: Needs the SIS Data – import or SIS Data – manage")
            ).to_be_visible()
        found["look-only tab"] = violations(_tool_frame(page), False)
        frame.locator("a.tabs__tab").nth(1).click()  # Settings
        expect(frame.locator("#tokens-heading")).to_be_visible()
        expect(frame.locator('form[action="/rostering/tokens"]')).to_have_count(0)
        found["look-only settings"] = violations(_tool_frame(page), False)

        registered.extra_custom = {"canvas_sis_permissions": "import_sis,manage_sis"}
        page, frame = open_course(axe_context)
        frame.locator("a.tabs__tab").nth(1).click()  # Settings
        frame.locator('input[name="name"]').fill("OneRoster agent")
        frame.locator('form[action="/rostering/tokens"] button').click()
        field = frame.locator("#new-token")
        expect(field).to_have_value(re.compile(r"^sisi_"))
        found["a token made"] = violations(_tool_frame(page), False)

        frame.locator("a.tabs__tab").nth(2).click()
        expect(frame.locator("#activity-heading")).to_be_visible()
        expect(frame.locator("code", has_text="token.created")).to_be_visible()
        found["activity tab"] = violations(_tool_frame(page), False)
    finally:
        registered.locale = None
        registered.extra_custom = {}
    assert {k: v for k, v in found.items() if v} == {}


def test_a_manage_admin_copies_a_new_token(profile_context, open_course, registered, tool_url):
    context = profile_context({})  # a Chromium of its own, its clipboard untouched by others
    # The frame may write the clipboard (Canvas's iframe allows clipboard-write), not read it:
    # the platform's page reads it back.
    for origin in (tool_url, registered.base_url):
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=origin)
    registered.extra_custom = {"canvas_sis_permissions": "import_sis,manage_sis"}
    try:
        page, frame = open_course(context)
        frame.get_by_role("link", name="Settings").click()
        frame.locator('input[name="name"]').fill("Nightly agent")
        # The copy script held back (a slow network, a busy server): a click before it runs
        # would do nothing, so there is no button to click until it does.
        held = []

        def hold(route):
            held.append(route)

        context.route("**/static/js/copy.js", hold)
        frame.locator('form[action="/rostering/tokens"] button').click()
        token = frame.locator("#new-token").input_value()
        assert token.startswith("sisi_")
        while not held:  # the browser's request reaches the route in a moment
            page.wait_for_timeout(10)
        expect(frame.get_by_role("button", name="Copy")).to_be_hidden()
        held[0].continue_()
        frame.get_by_role("button", name="Copy").click()
        status = frame.locator('[data-copy-status="new-token"]')
        expect(status).to_have_text(re.compile("^(Copied|Select the text and copy it)$"))
        if status.inner_text() == "Copied":
            page.bring_to_front()
            assert page.evaluate("navigator.clipboard.readText()") == token
        else:
            # The clipboard did not answer in 2 s (so it went in CI's full runs, never alone):
            # the token is selected for Ctrl+C instead.
            selected = frame.locator("#new-token").evaluate(
                "f => f.value.slice(f.selectionStart, f.selectionEnd)"
            )
            assert selected == token
    finally:
        registered.extra_custom = {}
