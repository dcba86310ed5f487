"""Browser fixtures: Debian's headless Chromium driven by Playwright, the tool served on
``localhost`` and the test platform on ``127.0.0.1`` — two sites, so the tool is a third party
in the platform's iframe, as it is inside Canvas. Screenshots of failed tests go to
``test-artifacts/``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

from tests.support.platform import TestPlatform

CHROMIUM = "/usr/bin/chromium"
# Flags for a closed network and a root user, as on the CI machines.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = pytest.mark.browser


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make test`, which installs Debian's chromium")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


def _screenshot_on_failure(request: pytest.FixtureRequest, pages: list[Page]) -> None:
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        for index, page in enumerate(pages):
            if not page.is_closed():
                page.screenshot(
                    path=str(ARTIFACTS / f"{request.node.name}-{index}.png"), full_page=True
                )


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A fresh browser profile with Chromium's default cookie settings."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    yield context
    _screenshot_on_failure(request, context.pages)
    context.close()


@pytest.fixture
def profile_context(
    playwright: Playwright, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[dict[str, Any]], BrowserContext]]:
    """Start Chromium with a profile whose preferences the test chooses."""
    contexts: list[BrowserContext] = []

    def start(preferences: dict[str, Any]) -> BrowserContext:
        profile = tmp_path / f"profile-{len(contexts)}"
        (profile / "Default").mkdir(parents=True)
        (profile / "Default" / "Preferences").write_text(json.dumps({"profile": preferences}))
        contexts.append(
            playwright.chromium.launch_persistent_context(
                str(profile),
                executable_path=CHROMIUM,
                args=CHROMIUM_ARGS,
                headless=True,
                viewport={"width": 1280, "height": 1000},
                accept_downloads=True,
            )
        )
        return contexts[-1]

    yield start
    for context in contexts:
        _screenshot_on_failure(request, context.pages)
        context.close()


@pytest.fixture
def third_party_blocked_context(
    profile_context: Callable[[dict[str, Any]], BrowserContext],
) -> BrowserContext:
    """Third-party cookies explicitly blocked (partitioned cookies are still allowed)."""
    return profile_context({"cookie_controls_mode": 1, "block_third_party_cookies": True})


@pytest.fixture
def blocking_context(
    profile_context: Callable[[dict[str, Any]], BrowserContext],
    tool_url: str,
    platform: TestPlatform,
) -> BrowserContext:
    """Every cookie refused to the tool while the platform frames it, partitioned ones too;
    the tool at top level (a new window) keeps its cookies."""
    return profile_context(
        {
            "cookie_controls_mode": 1,
            "block_third_party_cookies": True,
            "content_settings": {
                "exceptions": {
                    "cookies": {
                        f"{tool_url},{platform.base_url}": {"setting": 2},
                    }
                }
            },
        }
    )


@pytest.fixture
def open_course(registered: TestPlatform, tool_url: str) -> Callable[..., Any]:
    """Open the platform's account page, which launches the tool in its iframe."""

    def open_course(
        context: BrowserContext,
        *,
        persona: str = "admin",
        storage: bool = True,
        deployment: str = "dep-a",
    ) -> tuple[Page, Any]:
        registered.storage = storage
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(f"{registered.base_url}/course?persona={persona}&deployment={deployment}")
        return page, page.frame_locator("iframe#tool")

    return open_course
