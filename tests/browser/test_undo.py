"""Undo in Chromium, inside the platform's iframe: the row's Undo… opens the review, Undo asks
Canvas through the worker, and the row shows Restoring then Completed without a reload. axe
finds nothing on the review and the stop confirmation, in English and Spanish."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from lti_app.canvas import actions, connections
from lti_app.canvas import worker as canvas_worker
from lti_app.dev.standin import sis_import
from lti_app.extensions import db
from lti_app.lti.models import Tenant
from lti_app.rostering.models import RosteringJob
from lti_app.worker import Loop, Worker

from .test_accessibility import _tool_frame, axe_context, violations  # noqa: F401 (a fixture)

pytestmark = pytest.mark.browser
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def app_overrides() -> dict[str, object]:
    return {"LIVE_STATUS_SECONDS": 1, "CANVAS_ACTION_POLL_SECONDS": 0.3}


@pytest.fixture
def connected(canvas, registered, tenant_ids) -> Iterator[None]:
    """Alpha College connected to the stand-in Canvas, with yesterday's deleting import and one
    running; the launch carries Canvas's API and the admin's SIS permissions."""
    canvas.standin.restore_seconds = 6.0
    canvas.standin.put(
        "1",
        sis_import(6001, NOW - timedelta(hours=20), enrollments_deleted=3960, courses_concluded=12),
    )
    canvas.standin.put(
        "1", sis_import(6002, NOW - timedelta(minutes=30), state="importing", progress=40)
    )
    connections.connect(
        db.session.get(Tenant, tenant_ids["dep-a"]),
        base_url=canvas.base_url,
        account_id="1",
        method="token",
        access_token=canvas.standin.issue_token(),
        connected_by="Test Operator",
    )
    canvas_worker.poll_all("test-worker")
    registered.extra_custom = {
        "canvas_api_base_url": canvas.base_url,
        "canvas_root_account_id": "1",
        "canvas_sis_permissions": "import_sis,manage_sis",
    }
    yield
    registered.extra_custom = {}


def test_undo_from_the_row_restores_and_the_row_follows_without_a_reload(
    context, open_course, connected, app
):
    worker = Worker(app, [Loop("canvas_actions", actions.tick, 0.2)]).start()
    try:
        page, frame = open_course(context)
        row = frame.locator("tr[data-job-id]", has_text="Undo…")
        expect(row).to_have_attribute("data-status", "completed", timeout=15_000)
        row.get_by_role("link", name=re.compile("^Undo the")).click()

        expect(frame.get_by_role("heading", name="Undo Canvas SIS import 6001")).to_be_visible()
        expect(frame.get_by_text("brings back 3,960 enrollments it deleted").first).to_be_visible()
        frame.get_by_label("Only what it deleted").check()
        frame.get_by_role("button", name="Undo", exact=True).click()

        expect(frame.get_by_text("Undo asked.")).to_be_visible()
        tool = _tool_frame(page)
        tool.evaluate("window.notReloaded = true")
        row = frame.locator("tr[data-job-id]").filter(has_text="Undo asked by Avery Admin")
        job_id = row.get_attribute("data-job-id")
        same = frame.locator(f'tr[data-job-id="{job_id}"]')
        expect(same).to_have_attribute("data-status", "in_progress", timeout=15_000)
        expect(same.locator('[data-cell="stage"]')).to_contain_text("Restoring")
        # partially_restored (a flag was set): Warning, as Canvas's states are mapped.
        expect(same).to_have_attribute("data-status", "warning", timeout=20_000)
        assert tool.evaluate("window.notReloaded === true")
    finally:
        worker.shutdown()


@pytest.mark.parametrize("locale", ["en", "es"])
def test_the_review_and_the_stop_confirmation_have_no_axe_violations(
    axe_context, open_course, connected, registered, tool_url, locale  # noqa: F811
):
    registered.locale = locale
    try:
        page, frame = open_course(axe_context)
        expect(frame.locator("#jobs-heading")).to_be_visible(timeout=15_000)
        tool = _tool_frame(page)
        token = re.search(r"launch_token=([^&]+)", tool.url)[1]
        jobs = {
            job.canvas_sis_import_id: job.public_id
            for job in db.session.scalars(select(RosteringJob))
        }
        found = {}
        for name, path in [
            ("undo review", f"/rostering/jobs/{jobs[6001]}/restore"),
            ("stop confirmation", f"/rostering/jobs/{jobs[6002]}/abort"),
        ]:
            tool.goto(f"{tool_url}{path}?launch_token={token}")
            expect(tool.locator("h2").first).to_be_visible()
            found[name] = violations(tool, False)
    finally:
        registered.locale = None
    assert {k: v for k, v in found.items() if v} == {}
