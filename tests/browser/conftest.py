"""Browser tests: Debian's chromium (the Makefile's test set-up installs it)
driven by Playwright, against the system served by a real uvicorn server.
Screenshots go to build/screenshots/. Without chromium the tests are skipped,
unless SOTAY_REQUIRE_BROWSER=1 (CI sets it): then they fail."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
# As root on a closed network: no sandbox, and none of chromium's own calls home.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
async def browser():
    if CHROMIUM is None:
        if os.environ.get("SOTAY_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed (the Makefile's test set-up installs Debian's package)")
        pytest.skip("chromium is not installed")
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        await browser.close()


async def screenshot(page, name: str) -> None:
    """The page at desktop width, then at phone width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size({"width": 1280, "height": 900})
