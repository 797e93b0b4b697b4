"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server (real PostgreSQL).

Playwright's own browser download cannot work here; scripts/services.sh installs /usr/bin/chromium with apt
(`make test` runs it). The tests fail, never skip, when the browser is missing.

Map tiles come from another host, which tests cannot reach: every tile request is refused, so each journey
also shows that the pages work without tiles. Console errors fail a test, except those refused tiles.

The 2 cores are often busy with other work: the tests never sleep, they wait for the condition they need
(`expect(...)`, `wait_for_function`), with generous time limits (VICINO_BROWSER_TIMEOUT_MS, default 60 s for
an action or an assertion) that only a real failure reaches.

With VICINO_README_SCREENSHOTS=1 the journeys also write the README's three screenshots (nearby,
suggestions, campaign) to docs/screenshots/.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("VICINO_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("VICINO_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts")) / "screenshots"
README_SCREENSHOTS = ROOT / "docs" / "screenshots"
#: How long an action, a navigation or an assertion may take before it fails (ms).
TIMEOUT_MS = int(os.environ.get("VICINO_BROWSER_TIMEOUT_MS", "60000"))
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 375, "height": 760}
#: A host that never resolves (RFC 2606), so no test ever reaches a real tile server.
TILE_HOST = "tiles.vicino.invalid"
TILE_URL = f"http://{TILE_HOST}/{{z}}/{{x}}/{{y}}.png"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run `bash scripts/services.sh` (installs Debian's chromium)")
    # Playwright's sync API keeps an asyncio loop running in this thread; Django would then refuse the
    # tests' own ORM calls as "async-unsafe". The tests are plain synchronous code, so allow them, for
    # as long as the browser runs.
    expect.set_options(timeout=TIMEOUT_MS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM)
            yield browser
            browser.close()


@dataclass
class BrowserSession:
    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)

    def go(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    def resize(self, viewport: dict) -> None:
        """Resize, then wait until the page has the new width and has drawn twice since (Leaflet redraws
        its maps on the first animation frame after a resize)."""
        self.page.set_viewport_size(viewport)
        self.page.wait_for_function("width => window.innerWidth === width", arg=viewport["width"])
        self.page.evaluate(
            "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
        )

    def snap(self, name: str) -> None:
        """Screenshots at desktop and phone width; at phone width nothing may overflow sideways."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        self.resize(PHONE)
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        page.screenshot(path=SCREENSHOTS / f"{name}-375.png", full_page=True)
        self.resize(DESKTOP)
        page.screenshot(path=SCREENSHOTS / f"{name}-1280.png", full_page=True)
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than a 375px screen"

    def readme_snap(self, name: str, *, full_page: bool = False) -> None:
        """The README's screenshot `name` at desktop width: always among the artefacts (readme-<name>.png),
        and in docs/screenshots/<name>.png when VICINO_README_SCREENSHOTS is set."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.resize(DESKTOP)
        artefact = SCREENSHOTS / f"readme-{name}.png"
        self.page.screenshot(path=artefact, full_page=full_page)
        if os.environ.get("VICINO_README_SCREENSHOTS"):
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(artefact, README_SCREENSHOTS / f"{name}.png")

    def map_ready(self, selector: str) -> dict:
        """Wait until Leaflet has set up the map at `selector` (it adds .leaflet-container), scroll it into
        view and return its box: a tap before that would land on a bare <div>."""
        locator = self.page.locator(selector)
        expect(locator).to_have_class(re.compile(r"\bleaflet-container\b"))
        locator.scroll_into_view_if_needed()
        return locator.bounding_box()


def _is_refused_tile(message: ConsoleMessage) -> bool:
    return TILE_HOST in (message.location or {}).get("url", "")


@pytest.fixture
def session(browser: Browser, live_server, settings) -> Iterator[BrowserSession]:
    settings.VICINO_TILE_URL = TILE_URL
    context = browser.new_context(viewport=DESKTOP, timezone_id="America/New_York", locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    context.route(re.compile(rf"^https?://{re.escape(TILE_HOST)}/"), lambda route: route.abort())
    page = context.new_page()
    current = BrowserSession(page=page, base_url=live_server.url)
    page.on(
        "console",
        lambda message: (
            current.console_errors.append(f"{message.text} ({(message.location or {}).get('url')})")
            if message.type == "error" and not _is_refused_tile(message)
            else None
        ),
    )
    page.on("pageerror", lambda error: current.console_errors.append(f"uncaught: {error}"))
    yield current
    context.close()
    assert current.console_errors == [], current.console_errors
