"""Alerts and the change guard in Chromium, inside the platform's iframe: the admin adds their
address and a test arrives at a real SMTP server; a held sync is approved from the banner and
its row moves on by itself; axe finds nothing on the new parts, in English and Spanish."""

from __future__ import annotations

import threading
import time

import pytest
from playwright.sync_api import expect

from examples.sis_agent import Api, NotApproved, run_sync
from lti_app import crypto
from lti_app.alerts import recipients
from lti_app.alerts.models import AlertRecipient, Channel
from lti_app.extensions import db
from lti_app.timeutil import utcnow

from .test_accessibility import axe_context, violations  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser


@pytest.fixture
def app_overrides(smtp) -> dict[str, object]:
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp.port,
        "PUBLIC_URL": "https://tool.example.edu",
        "LIVE_STATUS_SECONDS": 1,
    }


def test_the_admin_adds_their_address_and_a_test_arrives(context, open_course, smtp):
    _, frame = open_course(context)
    frame.get_by_role("link", name="Settings").click()
    address = frame.get_by_label("Email address")
    expect(address).to_have_value("avery.admin@alpha.example.edu")
    frame.get_by_role("button", name="Add", exact=True).click()
    expect(frame.get_by_role("status")).to_contain_text("Recipient added.")
    row = frame.locator("tr[data-recipient]")
    expect(row).to_contain_text("avery.admin@alpha.example.edu")

    row.get_by_role("button", name="Send a test").click()
    expect(frame.locator('tr[data-recipient] [data-cell="outcome"]')).to_contain_text("delivered")
    (message,) = smtp.inbox.messages
    assert str(message["To"]) == "avery.admin@alpha.example.edu"
    assert str(message["Subject"]) == "SIS Integration · Alpha College: Test alert"


def _start_held_sync(api: Api) -> tuple[threading.Thread, dict]:
    """The reference agent, deleting a third of the enrollments, until its sync is held."""
    finished: dict = {}

    def sync() -> None:
        try:
            finished.update(
                run_sync(api, "OneRoster", pause=0.2, seed=5, delete_share=0.33, hold_timeout=60)
            )
        except NotApproved as exc:
            finished["stopped"] = str(exc)

    agent = threading.Thread(target=sync, daemon=True)
    agent.start()
    for _ in range(100):
        jobs = api.call("GET", "/rostering_jobs?status=in_progress")["data"]
        if jobs and jobs[0]["stage"] == "Awaiting approval":
            return agent, finished
        time.sleep(0.1)
    raise AssertionError("the agent's sync was never held")


def test_a_held_sync_is_approved_from_the_banner_and_moves_on(
    context, open_course, tool_url, api_tokens
):
    api = Api(tool_url, api_tokens["dep-a"])
    agent, finished = _start_held_sync(api)

    page, frame = open_course(context)
    banner = frame.locator("[data-hold]")
    expect(banner).to_contain_text("A sync waits for your approval")
    expect(banner.locator("tbody")).to_contain_text("3,960")
    frame.get_by_role("button", name="Approve").click()
    expect(frame.get_by_role("status").first).to_contain_text("Sync approved")
    expect(frame.locator("[data-hold]")).to_have_count(0)
    row = frame.locator("tr[data-job-id]").first
    tool = page.frame(name="tool")
    tool.evaluate("window.notReloaded = true")

    agent.join(30)
    assert finished["status"] in ("completed", "warning")
    expect(row).to_have_attribute("data-status", finished["status"], timeout=10_000)
    assert tool.evaluate("window.notReloaded === true")  # moved on by live status


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_alerts_section_banner_and_decision_have_no_axe_violations(
    axe_context, open_course, registered, tool_url, api_tokens, add_recipients, locale  # noqa: F811
):
    registered.locale = locale
    api = Api(tool_url, api_tokens["dep-a"])
    try:
        agent, finished = _start_held_sync(api)
        page, frame = open_course(axe_context)
        expect(frame.locator("[data-hold]")).to_be_visible(timeout=15_000)
        tool = page.frame(name="tool")
        found = {"tab with a held sync and recipients": violations(tool, False)}
        job = api.call("GET", "/rostering_jobs?status=in_progress")["data"][0]["id"]
        with axe_context.expect_page() as details:
            frame.locator("[data-hold]").get_by_role("link").click()
        window = details.value
        expect(window.locator("#approval-heading")).to_be_visible()
        found["details window with the decision"] = violations(window.main_frame, False)
        assert job in window.url
        frame.get_by_role("button", name="Reject" if locale == "en" else "Rechazar").click()
        agent.join(30)
        assert "rejected" in finished["stopped"]
    finally:
        registered.locale = None
    assert {k: v for k, v in found.items() if v} == {}


@pytest.fixture
def add_recipients(tenant_ids) -> None:
    """An email address whose last alert was refused, and a Slack webhook (stored directly:
    its host is not on this closed network, so adding it through the guard would fail)."""
    tenant_id = tenant_ids["dep-a"]
    email = recipients.add_email(
        tenant_id, "it@alpha.example.edu", events=None, locale="en", added_by="Avery"
    )
    email.last_attempt_at, email.last_ok = utcnow(), False
    email.last_outcome = "failed: 550 mailbox unavailable"
    db.session.add(
        AlertRecipient(
            tenant_id=tenant_id,
            channel=Channel.SLACK.value,
            url_hint="https://hooks.slack.com/…/XyZ9",
            url_encrypted=crypto.encrypt("https://hooks.slack.com/services/T0/B0/XyZ9"),
            digest="slack-webhook",
            events=["failed"],
            locale="en",
            added_by="Avery",
        )
    )
    db.session.commit()
