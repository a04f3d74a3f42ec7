"""The member's handbook installs as an app (issue 18): Chromium's own installability check
passes (a manifest with a Vietnamese short name, icons, standalone display, a service
worker), and once loaded, the handbook opens again without a connection."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import CHROMIUM, FLAGS, screenshot
from tests.support.system import real_server

pytestmark = pytest.mark.integration


async def test_chromium_finds_the_handbook_installable(system, browser, tmp_path):
    from playwright.async_api import async_playwright

    # A profile of its own: Chromium installs nothing from an incognito context (a new_context is one).
    async with real_server(system) as base, async_playwright() as p:
        context = await p.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=CHROMIUM, args=FLAGS, headless=True,
            viewport={"width": 390, "height": 844}, locale="vi-VN")
        page = await context.new_page()
        await page.goto(f"{base}/")
        await page.evaluate("() => navigator.serviceWorker.ready")
        cdp = await context.new_cdp_session(page)
        manifest = await cdp.send("Page.getAppManifest")
        assert manifest["errors"] == [], manifest["errors"]
        assert '"short_name": "Sổ tay ĐV"' in manifest["data"] and '"display": "standalone"' in manifest["data"]
        installability = await cdp.send("Page.getInstallabilityErrors")
        assert installability["installabilityErrors"] == []
        icon = await page.request.get(f"{base}/icons/icon-512.png")
        assert icon.ok and icon.headers["content-type"] == "image/png"
        worker = await page.request.get(f"{base}/sw.js")
        assert worker.ok and "javascript" in worker.headers["content-type"]
        await context.close()


async def test_the_handbook_opens_without_a_connection_once_loaded(system, browser):
    async with real_server(system) as base:
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page = await context.new_page()
        await page.goto(f"{base}/")
        await page.evaluate("() => navigator.serviceWorker.ready")
        await page.reload()  # now under the worker's control, which keeps the shell
        await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        await context.set_offline(True)
        await page.reload()
        await expect(page.locator("h1")).to_have_text("Sổ tay đảng viên điện tử")
        await expect(page.locator("#signin-form")).to_be_visible()
        await screenshot(page, "handbook-offline")
        await context.close()
