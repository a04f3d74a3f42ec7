"""A registration from the installed handbook counts as `mobile`, from a browser as `web`
(issue 18): the installed app starts at the manifest's start_url, /?source=app, or runs
standalone (web/assets/install.js), and the sign-up form says so in `platform`."""

from __future__ import annotations

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from tests.browser.test_handbook import PASSWORD
from tests.support.system import real_server

pytestmark = pytest.mark.integration


async def platform_of(system, card: str) -> str | None:
    async with system.runtimes["identity"].context.engine.connect() as db:
        return (await db.execute(text("SELECT platform FROM registrations WHERE party_card_no = :c"),
                                 {"c": card})).scalar()


@pytest.mark.parametrize(("path", "card", "name", "platform"), [
    ("/?source=app", "010000001", "Nguyễn Văn An", "mobile"),
    ("/", "010000002", "Trần Thị Bình", "web"),
])
async def test_the_installed_app_registers_as_mobile_and_the_browser_as_web(system, browser, path, card, name,
                                                                           platform):
    async with real_server(system) as base:
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page = await context.new_page()
        await page.goto(f"{base}{path}")
        await page.fill("#su-card", card)
        await page.fill("#su-name", name)
        await page.fill("#su-born", "01/05/1960")
        await page.fill("#su-phone", f"09{card[-8:]}")
        await page.fill("#su-password", PASSWORD)
        await page.check("#su-purpose-account")
        await page.click("#signup-form button[type=submit]")
        await expect(page.locator("#signup-done")).to_contain_text("đang chờ chi bộ phê duyệt")
        assert await platform_of(system, card) == platform
        await context.close()
