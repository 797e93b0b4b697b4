"""Browser tests: Playwright drives Debian's Chromium against pytest-django's live server (real PostgreSQL).

Playwright's own browser download cannot work here; scripts/services.sh installs /usr/bin/chromium with apt
(`make test` runs it). The tests fail, never skip, when the browser is missing.

Map tiles come from another host, which tests cannot reach: every tile request is refused, so each journey
also shows that the pages work without tiles. Console errors fail a test, except those refused tiles.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("VICINO_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("VICINO_TEST_ARTIFACTS", ROOT / "var" / "test-artifacts")) / "screenshots"
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

    def snap(self, name: str) -> None:
        """Screenshots at desktop and phone width; at phone width nothing may overflow sideways."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page = self.page
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(150)  # let Leaflet react to the resize
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        page.screenshot(path=SCREENSHOTS / f"{name}-375.png", full_page=True)
        page.set_viewport_size(DESKTOP)
        page.wait_for_timeout(150)
        page.screenshot(path=SCREENSHOTS / f"{name}-1280.png", full_page=True)
        assert overflow <= 0, f"{name}: the page is {overflow}px wider than a 375px screen"


def _is_refused_tile(message: ConsoleMessage) -> bool:
    return TILE_HOST in (message.location or {}).get("url", "")


@pytest.fixture
def session(browser: Browser, live_server, settings) -> Iterator[BrowserSession]:
    settings.VICINO_TILE_URL = TILE_URL
    context = browser.new_context(viewport=DESKTOP, timezone_id="America/New_York", locale="en-US")
    context.set_default_timeout(10_000)
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
