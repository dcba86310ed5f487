"""Accessibility in Chromium: axe-core (from the repo's test tooling, never a CDN) finds no
violation of WCAG 2.2 A/AA or axe's best practices on any page an admin sees, in English and in
Spanish, in normal and high contrast (high contrast also at AAA contrast: 7:1). A keyboard alone
reaches everything; the tool tells the platform its height."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Frame, expect

from lti_app.rostering.models import JobStatus

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "axe" / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
DOCS = Path(__file__).resolve().parents[2] / "docs"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture
def axe_context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A profile that lets axe's script into the tool's pages (their CSP allows only their
    own scripts), with Spanish as the browser's language where the test asks."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `make test`, which installs axe-core with npm")
    context = browser.new_context(
        viewport={"width": 1280, "height": 1000}, bypass_csp=True, accept_downloads=True
    )
    yield context
    context.close()


def violations(frame: Frame, high_contrast: bool) -> list[str]:
    """axe's violations on what the frame shows, as "rule: target" lines."""
    frame.add_script_tag(path=str(AXE))
    tags = [*TAGS, "wcag2aaa"] if high_contrast else TAGS
    result = frame.evaluate(
        """async (tags) => {
            const rules = {"color-contrast-enhanced": {enabled: tags.includes("wcag2aaa")}};
            // A run that never ends (the page navigated under it) fails the test, not CI.
            const late = new Promise((_, reject) =>
                setTimeout(() => reject(new Error("axe did not finish in 60 s")), 60000));
            const run = await Promise.race(
                [axe.run(document, {runOnly: {type: "tag", values: tags}, rules}), late]);
            return run.violations.map(
                (v) => v.id + ": " + v.nodes.map((n) => n.target.join(" ")).join(", "));
        }""",
        tags,
    )
    return result


@pytest.fixture
def history(make_job):
    jobs = [make_job(minutes_ago=60 * n + 5, status=list(JobStatus)[n % 4] if n else
                     JobStatus.FAILED,
                     stage="Data Conversion" if n % 4 in (1, 2) else "",
                     messages=[{"severity": "error", "file": "users.csv", "row": 3,
                                "message": "User U1 not found"}] if n == 0 else None,
                     files=[("canvas_import.json", '{"id": 1}')] if n == 0 else None)
            for n in range(40)]  # fmt: skip
    return jobs


def _tool_frame(page) -> Frame:
    return next(f for f in page.frames if "/rostering/" in f.url or "/lti/" in f.url)


@pytest.mark.parametrize("locale", ["en", "es"])
@pytest.mark.parametrize("contrast", ["normal", "high"])
def test_every_page_has_no_axe_violations(
    axe_context, open_course, registered, history, tool_url, locale, contrast
):
    registered.locale = locale
    high = contrast == "high"
    registered.extra_custom = {"canvas_user_prefers_high_contrast": "true"} if high else {}
    try:
        page, frame_locator = open_course(axe_context)
        expect(frame_locator.locator("#jobs-heading")).to_be_visible(timeout=15_000)
        tool = _tool_frame(page)
        found = {"rostering tab": violations(tool, high)}
        token = re.search(r"launch_token=([^&]+)", tool.url)[1]
        job = history[0].public_id
        for name, path in [
            ("details window", f"/rostering/jobs/{job}/details"),
            ("JSON window", f"/rostering/jobs/{job}/json"),
            ("settings tab", "/rostering/settings"),
            ("filtered, page 2", "/rostering/?status=completed&status=failed&page=2&per_page=5"),
            ("a bad filter", "/rostering/?from=yesterday"),
            ("not found page", "/rostering/jobs/nope/details"),
        ]:
            separator = "&" if "?" in path else "?"
            tool.goto(f"{tool_url}{path}{separator}launch_token={token}")
            found[name] = violations(tool, high)
        tool.goto(f"{tool_url}/rostering/?launch_token=expired")
        found["expired page"] = violations(tool, high)

        if (locale == "es") != high:
            # The pictures the README shows: the tab in Spanish, and in high contrast (kept in
            # test-artifacts/; UPDATE_DOCS_SCREENSHOTS=1 writes them into docs/).
            name = "rostering-tab-high-contrast.png" if high else "rostering-tab-es.png"
            page.goto(page.url)
            expect(frame_locator.locator("#jobs-heading")).to_be_visible(timeout=15_000)
            folder = DOCS if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" else ARTIFACTS
            folder.mkdir(exist_ok=True)
            # The tool's own page, as its frame shows it: a capture of the platform page does
            # not paint a cross-site frame (it showed an empty one), nor the part of a tall
            # frame outside the window.
            shot = axe_context.new_page()
            shot.goto(_tool_frame(page).url)
            expect(shot.locator("#jobs-heading")).to_be_visible()
            shot.screenshot(path=str(folder / name), full_page=True)
            shot.close()

        refused, refused_frame = open_course(axe_context, persona="student")
        expect(refused_frame.locator("h1")).to_be_visible(timeout=15_000)
        found["refusal page"] = violations(_tool_frame(refused), high)
    finally:
        registered.locale = None
        registered.extra_custom = {}
    assert {k: v for k, v in found.items() if v} == {}


def _tab_to(page, tool: Frame, wanted: str, limit: int = 200, exact: bool = False) -> None:
    """Press Tab until the focused control's name contains ``wanted`` (is it, if ``exact``;
    no mouse), and check that it shows a focus ring."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        name = tool.evaluate(
            """() => {
                const e = document.activeElement;
                if (!e || e === document.body) return "";
                const label = e.labels && e.labels.length ? e.labels[0].textContent : "";
                return (e.getAttribute("aria-label") || label || e.textContent || "").trim();
            }"""
        )
        if (wanted == name) if exact else (wanted in name):
            outline = tool.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
            assert outline != "none", f"{wanted}: no visible focus on {name!r}"
            return
    raise AssertionError(f"Tab never reached {wanted!r}")


def test_keyboard_alone_opens_details_pages_downloads_and_refreshes(context, open_course, history):
    page, frame_locator = open_course(context)
    expect(frame_locator.locator("#jobs-heading")).to_be_visible(timeout=15_000)
    tool = _tool_frame(page)
    page.locator("body").focus()

    _tab_to(page, tool, "Details of the")
    with context.expect_page() as details:
        page.keyboard.press("Enter")
    expect(details.value.get_by_role("heading", name="Change details")).to_be_visible()
    details.value.close()

    _tab_to(page, tool, "Page 2")
    page.keyboard.press("Enter")
    expect(frame_locator.locator("table.ic-table--jobs caption")).to_contain_text("Page 2 of 2")

    tool = _tool_frame(page)
    _tab_to(page, tool, "Download")
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert download.value.suggested_filename.endswith(".csv")

    _tab_to(page, tool, "Refresh")
    page.keyboard.press("Enter")
    expect(frame_locator.locator("table.ic-table--jobs caption")).to_contain_text("Page 2 of 2")

    # Space works the filter's checkboxes; Enter applies.
    tool = _tool_frame(page)
    _tab_to(page, tool, "Failed", exact=True)  # the filter's, not the Alerts section's
    page.keyboard.press("Space")
    _tab_to(page, tool, "Apply filters")
    page.keyboard.press("Enter")
    expect(frame_locator.locator("table.ic-table--jobs caption")).to_contain_text("failed")


def test_the_tool_tells_the_platform_its_height(context, open_course, history):
    page, frame_locator = open_course(context)
    expect(frame_locator.locator("#jobs-heading")).to_be_visible(timeout=15_000)
    tool = _tool_frame(page)
    page.wait_for_function("window.resizes.length > 0")
    measure = "Math.ceil(document.documentElement.getBoundingClientRect().height)"
    height = tool.evaluate(measure)
    page.wait_for_function(f"window.resizes[window.resizes.length - 1] === {height}")
    # The frame was sized by it: one scrollbar, the page's.
    assert page.locator("#tool").evaluate("e => e.clientHeight") == height
    # A shorter page (an empty filter) sends its new height.
    token = re.search(r"launch_token=([^&]+)", tool.url)[1]
    tool.goto(f"{tool.url.split('?')[0]}?status=completed&from=2001-01-01&to=2001-01-02"
              f"&launch_token={token}")  # fmt: skip
    expect(frame_locator.get_by_text("No jobs match these filters")).to_be_visible()
    shorter = _tool_frame(page).evaluate(measure)
    page.wait_for_function(f"window.resizes[window.resizes.length - 1] === {shorter}")
    assert shorter < height
