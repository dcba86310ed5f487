"""The tool inside a platform's iframe on another site, in headless Chromium: the launch and
every control of the Rostering tab work without third-party cookies."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from lti_app.rostering.models import JobStatus

pytestmark = pytest.mark.browser


@pytest.fixture
def history(make_job):
    """Sixty jobs for Alpha College, the newest failed with a message and a JSON file."""
    jobs = [make_job(minutes_ago=10 + i) for i in range(59)]
    newest = make_job(
        status=JobStatus.FAILED,
        stage="Canvas Import",
        posted_by="Priya Natarajan",
        files=[("canvas_import.json", '{"workflow_state": "failed_with_messages", "id": 4411}')],
        messages=[
            {
                "severity": "error",
                "file": "enrollments.csv",
                "row": 1423,
                "message": "Course SIS ID BIO-101 not found",
            }
        ],
    )
    return [newest, *jobs]


def _launch_statuses(page) -> list[int]:
    """Record the status of each launch POST: 303 when the state cookie came back, 200 when
    the launch page must check the state in the platform's storage first."""
    statuses: list[int] = []
    page.on(
        "response", lambda r: statuses.append(r.status) if r.url.endswith("/lti/launch") else None
    )
    return statuses


def _rostering_tab(frame):
    expect(frame.get_by_role("heading", name="Rostering Jobs")).to_be_visible(timeout=15_000)
    expect(frame.get_by_role("link", name="Rostering")).to_have_attribute("aria-current", "page")


@pytest.mark.parametrize("storage", [True, False], ids=["with-storage", "without-storage"])
@pytest.mark.parametrize("settings", ["default", "third-party-blocked"])
def test_admin_uses_every_control_inside_the_iframe(
    request, open_course, history, storage, settings
):
    if settings == "default":
        context = request.getfixturevalue("context")
    else:
        context = request.getfixturevalue("third_party_blocked_context")
    statuses = _launch_statuses(context.pages[0] if context.pages else context.new_page())
    page, frame = open_course(context, storage=storage)
    _rostering_tab(frame)
    # Chromium's defaults block third-party cookies, but keep the partitioned state cookie.
    assert statuses == [303]
    expect(frame.get_by_role("heading", name="Schedule")).to_be_visible()
    expect(frame.locator("table.ic-table--jobs caption")).to_contain_text("Page 1 of 3 (60 jobs)")
    expect(frame.locator("table.ic-table--jobs tbody tr").first).to_contain_text("Priya Natarajan")

    # Page navigation
    frame.get_by_role("link", name="Next page").click()
    expect(frame.locator("table.ic-table--jobs caption")).to_contain_text("Page 2 of 3")
    second_page_first_row = frame.locator("table.ic-table--jobs tbody tr").first.get_attribute(
        "data-job-id"
    )
    assert second_page_first_row == history[25].public_id

    # Refresh keeps the admin where they are
    frame.get_by_role("link", name="Refresh").click()
    expect(frame.locator("table.ic-table--jobs caption")).to_contain_text("Page 2 of 3")

    # Download: the CSV arrives and parses
    with page.expect_download() as download_info:
        frame.get_by_role("link", name="Download").click()
    download = download_info.value
    assert download.suggested_filename.startswith("rostering-jobs-alpha-college-")
    rows = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert rows[0][0] == "Job ID" and len(rows) == 61
    assert rows[1][0] == history[0].public_id

    # JSON file and Details open in new windows that work from the token alone
    frame.get_by_role("link", name="First page").click()
    expect(frame.locator("table.ic-table--jobs caption")).to_contain_text("Page 1 of 3")
    with page.expect_popup() as json_popup:
        frame.locator("table.ic-table--jobs tbody tr").first.get_by_role(
            "link", name="JSON file", exact=False
        ).click()
    json_window = json_popup.value
    expect(json_window.get_by_role("heading", name="canvas_import.json")).to_be_visible()
    expect(json_window.locator("pre.json")).to_contain_text(
        '"workflow_state": "failed_with_messages"'
    )

    with page.expect_popup() as details_popup:
        frame.locator("table.ic-table--jobs tbody tr").first.get_by_role(
            "link", name="Details", exact=False
        ).click()
    details = details_popup.value
    expect(details.get_by_role("heading", name="Errors and warnings")).to_be_visible()
    expect(details.get_by_text("Course SIS ID BIO-101 not found")).to_be_visible()


def test_student_sees_the_refusal_inside_the_iframe(context, open_course):
    _, frame = open_course(context, persona="student")
    expect(frame.get_by_text("SIS Integration is for account administrators.")).to_be_visible(
        timeout=15_000
    )


def test_without_any_cookie_the_platform_storage_carries_the_launch(
    blocking_context, open_course, history
):
    statuses = _launch_statuses(blocking_context.pages[0])
    _, frame = open_course(blocking_context, storage=True)
    _rostering_tab(frame)
    assert statuses == [200], "the launch should have been checked against platform storage"
    frame.get_by_role("link", name="Next page").click()
    expect(frame.locator("table.ic-table--jobs caption")).to_contain_text("Page 2 of 3")


def test_without_cookies_or_storage_a_new_window_is_offered_and_works(
    blocking_context, open_course, history
):
    page, frame = open_course(blocking_context, storage=False)
    offer = frame.get_by_role("link", name="Open SIS Integration in a new window")
    expect(offer).to_be_visible(timeout=15_000)
    with page.expect_popup() as popup_info:
        offer.click()
    window = popup_info.value
    expect(window.get_by_role("heading", name="Rostering Jobs")).to_be_visible(timeout=15_000)
