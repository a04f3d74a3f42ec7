"""The member's handbook installs as an app (issue 18): Chromium's own installability check
passes (a manifest with a Vietnamese short name, icons, standalone display, a service
worker), and once loaded, the handbook opens again without a connection."""

from __future__ import annotations

import asyncio
import struct

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from tests.browser.conftest import CHROMIUM, FLAGS, SCREENSHOTS, publish_article, screenshot
from tests.support.system import real_server

pytestmark = pytest.mark.integration


def png_width(path) -> int:
    """A PNG's width in pixels (its IHDR chunk, which comes first)."""
    return struct.unpack(">I", path.read_bytes()[16:20])[0]


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
        assert [png_width(SCREENSHOTS / f"handbook-offline-{label}.png") for label in ("desktop", "phone")] == [1366, 390]
        await context.close()


async def test_a_member_reads_the_kept_news_offline_and_the_read_counts_once_back_online(system, browser):
    from tests.browser.test_handbook import member_account, no_english, sign_in

    await member_account(system, "010000003", "Lê Văn Cường")
    aid = await publish_article(system, "Đọc cả khi mất sóng", "Tin lưu trên máy.",
                                "Nội dung **đọc được** khi không có mạng.")

    async def reads() -> int:
        async with system.runtimes["content"].context.engine.connect() as db:
            return (await db.execute(text("SELECT count(*) FROM reads WHERE article_id = :a"), {"a": aid})).scalar()

    async with real_server(system) as base:
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page = await context.new_page()
        await page.goto(f"{base}/")
        await page.evaluate("() => navigator.serviceWorker.ready")
        await sign_in(page, base, "010000003")
        await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        await expect(page.locator(f'article[data-id="{aid}"] h3')).to_contain_text("Đọc cả khi mất sóng")
        # The newest articles are kept on the device as the feed shows (the feed was, as it came).
        await page.reload()
        await expect(page.locator(f'article[data-id="{aid}"]')).to_be_visible()
        await page.wait_for_function(f"async () => !!(await caches.match('/api/content/v1/articles/{aid}'))")
        assert await reads() == 0

        await context.set_offline(True)
        await page.reload()
        await expect(page.locator("#offline")).to_contain_text("Không có mạng")
        await page.click(f'article[data-id="{aid}"] a')
        await expect(page.locator("#article-title")).to_have_text("Đọc cả khi mất sóng")
        await expect(page.locator(".article-body")).to_contain_text("khi không có mạng")
        # Feedback cannot be sent without a connection: a note stands where the form would.
        await expect(page.locator("#feedback-offline")).to_have_text("Phần này cần có mạng. Đề nghị thử lại khi có mạng.")
        assert await page.locator("#feedback-form").count() == 0
        await no_english(page)
        await screenshot(page, "handbook-offline-article")
        waiting = await page.evaluate("() => JSON.parse(localStorage.getItem('sotay.reads'))")
        assert [r["id"] for r in waiting] == [aid] and await reads() == 0

        await context.set_offline(False)  # the page signs in again by itself and sends the read
        await expect(page.locator("#offline")).to_be_hidden()
        await expect(page.locator("#feedback-form")).to_be_visible()  # the article drawn again, the form back
        assert await page.locator("#feedback-offline").count() == 0
        await page.wait_for_function("() => JSON.parse(localStorage.getItem('sotay.reads') || '[]').length === 0")
        assert await reads() == 1
        # Signing out forgets what was kept for reading offline.
        await page.click("#signout")
        await page.wait_for_function("async () => !(await caches.keys()).some((k) => k.endsWith('-reading'))")
        await context.close()


async def test_a_signed_in_members_repeat_visit_shows_the_kept_feed_at_once_then_the_live_one(system, browser):
    """On a slow connection the renewal of the sign-in and the feed take two round trips: a member
    signed in when last seen reads the feed this device kept meanwhile. The token endpoint is held
    back here until the test lets it answer."""
    from tests.browser.test_handbook import member_account, no_english, sign_in

    await member_account(system, "010000001", "Nguyễn Văn An")
    kept = await publish_article(system, "Tin đã lưu trên máy", "Đọc ngay khi mở.", "Nội dung đã lưu.")
    async with real_server(system) as base:
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page = await context.new_page()
        await page.goto(f"{base}/")
        await page.evaluate("() => navigator.serviceWorker.ready")
        await sign_in(page, base, "010000001")
        await page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        await expect(page.locator(f'article[data-id="{kept}"]')).to_be_visible()
        await page.reload()  # the feed, asked for under the worker's control, is kept on the device
        await expect(page.locator(f'article[data-id="{kept}"]')).to_be_visible()
        await page.wait_for_function("async () => !!(await caches.match('/api/content/v1/feed?limit=50', "
                                     "{ ignoreVary: true }))")
        fresh = await publish_article(system, "Tin mới hơn", "Chỉ có trên mạng.", "Nội dung mới.")

        held, answered = asyncio.Event(), []

        async def hold_back(route):
            await held.wait()
            await route.continue_()
        await page.route("**/api/identity/v1/token", hold_back)
        page.on("response", lambda r: answered.append(r) if r.url.endswith("/api/identity/v1/token") else None)

        await page.reload()
        await expect(page.locator(f'article[data-id="{kept}"] h3')).to_contain_text("Tin đã lưu trên máy")
        await expect(page.locator("#offline")).to_have_text("Đang cập nhật…")
        await expect(page.locator(f'article[data-id="{fresh}"]')).to_have_count(0)
        await expect(page.locator("#signin")).to_be_hidden()
        assert answered == []  # all of it from the device, before the token endpoint answered
        await no_english(page)
        await screenshot(page, "handbook-kept-feed-updating")
        held.set()
        await expect(page.locator(f'article[data-id="{fresh}"]')).to_be_visible()
        await expect(page.locator("#offline")).to_be_hidden()
        await expect(page.locator(f'article[data-id="{kept}"]')).to_be_visible()

        # The session ended elsewhere: the kept feed shows while the renewal is asked, and the sign-in
        # form replaces it once it is refused.
        await context.clear_cookies()
        held.clear()
        await page.reload()
        await expect(page.locator(f'article[data-id="{kept}"]')).to_be_visible()
        held.set()
        await expect(page.locator("#signin-form")).to_be_visible()
        await expect(page.locator("#view")).to_be_hidden()
        await expect(page.locator("#offline")).to_be_hidden()

        # A device whose session ended shows nothing kept, with a connection or without, and has
        # forgotten it (as signing out does).
        await page.reload()
        await expect(page.locator("#signin-form")).to_be_visible()
        await context.set_offline(True)
        await page.reload()
        await expect(page.locator("#signin-form")).to_be_visible()
        await expect(page.locator("#view")).to_be_hidden()
        await expect(page.locator(f'article[data-id="{kept}"]')).to_be_hidden()
        assert not await page.evaluate("async () => !!(await caches.match('/api/content/v1/feed?limit=50', "
                                       "{ ignoreVary: true }))")
        await context.close()
