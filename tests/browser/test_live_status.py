"""Live status in Chromium: a sync the reference agent finishes while the page is open turns
Completed (or Warning) in place, without a click, and the change is said in the live region."""

from __future__ import annotations

import threading
import time

import pytest
from playwright.sync_api import expect

from examples.sis_agent import Api, run_sync

pytestmark = pytest.mark.browser


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"LIVE_STATUS_SECONDS": 1}


def test_a_running_sync_finishes_on_the_open_page(context, open_course, tool_url, api_tokens):
    api = Api(tool_url, api_tokens["dep-a"])
    finished: dict[str, object] = {}
    agent = threading.Thread(
        target=lambda: finished.update(run_sync(api, "OneRoster", pause=1.5, seed=3)),
        daemon=True,
    )
    agent.start()
    for _ in range(50):  # the agent has posted its job
        if api.call("GET", "/rostering_jobs?status=in_progress")["data"]:
            break
        time.sleep(0.1)

    _, frame = open_course(context)
    row = frame.locator("tr[data-job-id]").first
    expect(row).to_have_attribute("data-status", "in_progress", timeout=15_000)
    tool = context.pages[0].frame(name="tool")
    tool.evaluate("window.notReloaded = true")

    agent.join(30)
    assert finished["status"] in ("completed", "warning")
    expect(row).to_have_attribute("data-status", str(finished["status"]), timeout=10_000)
    word = "Completed" if finished["status"] == "completed" else "Warning"
    expect(row.locator('[data-cell="status"]')).to_contain_text(word)
    expect(frame.locator("#live-announcer")).to_contain_text("Roster Import completed")
    # Updated in place (a reload would have dropped the page's own state), notice gone.
    assert tool.evaluate("window.notReloaded === true")
    expect(frame.locator('[data-live="running"]')).to_have_count(0)
