"""Term rollover in Chromium, inside the platform's iframe: an admin adds a blackout and sees
Next Run move past it; axe finds nothing on the Schedule section's blackouts and the allowance
and additions-only controls beside the change guard, in English and Spanish."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from lti_app.rostering import sync
from lti_app.timeutil import utcnow

from .test_accessibility import _tool_frame, axe_context, violations  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def scheduled(tenant_ids) -> None:
    sync.save_schedule(
        tenant_ids["dep-a"],
        {"frequency": "daily", "time_of_day": "02:00", "timezone": "UTC",
         "first_run": datetime(2026, 1, 1, tzinfo=UTC)},
    )  # fmt: skip


def test_adding_a_blackout_moves_next_run(context, open_course, registered, scheduled):
    today = utcnow().date()
    _, frame = open_course(context)
    next_run = frame.locator('td[data-label="Next Run"]')
    expect(next_run).not_to_contain_text("blackout", timeout=15_000)
    frame.get_by_role("link", name="Settings").click()
    frame.locator('input[name="from"]').first.fill(today.isoformat())
    frame.locator('input[name="to"]').first.fill((today + timedelta(days=3)).isoformat())
    frame.locator('input[name="reason"]').first.fill("Winter break")
    frame.get_by_role("button", name="Add a blackout").click()
    expect(frame.get_by_text("Blackout added: Next Run skips it.")).to_be_visible()
    frame.get_by_role("link", name="Rostering").click()
    expect(frame.get_by_role("status")).to_contain_text("A sync blackout is on: Winter break")
    expect(next_run).to_contain_text("after the Winter break blackout")
    day_after = today + timedelta(days=4)
    when = f"{day_after.isoformat()}T02:00:00Z"
    expect(next_run.locator("time")).to_have_attribute("datetime", when)


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_new_controls_have_no_axe_violations(
    axe_context, open_course, registered, scheduled, tenant_ids, locale  # noqa: F811
):
    from lti_app.alerts import guard
    from lti_app.extensions import db
    from lti_app.rostering import blackouts

    today = utcnow().date()
    blackouts.add(tenant_ids["dep-a"], today, today + timedelta(days=2), reason="Winter break",
                  zone="UTC", by="Avery")  # fmt: skip
    guard.allow(tenant_ids["dep-a"], percent=40, count=8000, until=None, syncs=2,
                reason="Spring term starts", by="Avery")  # fmt: skip
    guard.set_additions_only(tenant_ids["dep-a"], today, today + timedelta(days=7), "UTC")
    db.session.commit()
    registered.locale = locale
    try:
        page, frame = open_course(axe_context)
        expect(frame.locator("#jobs-heading")).to_be_visible(timeout=15_000)
        frame.locator("a.tabs__tab").nth(1).click()  # Settings
        expect(frame.locator("#blackouts-heading")).to_be_visible()
        expect(frame.locator("#allowance-heading")).to_be_visible()
        found = violations(_tool_frame(page), False)
    finally:
        registered.locale = None
    assert found == []
