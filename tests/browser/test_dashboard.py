"""The rollout dashboard in a real browser: a city admin signs in; a member's
web sign-up and then its approval show on the open page without a reload;
drilling down to a committee; screenshots at desktop and phone width."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import ADMIN_CARD, ADMIN_PASSWORD, screenshot, sign_in_as, tile, until_tile
from tests.support.system import CONSENT, real_server

pytestmark = pytest.mark.integration

async def test_the_dashboard_follows_a_sign_up_and_its_approval_live(system, browser):
    c, admin = system.client, system.auth("city_admin")
    async with real_server(system) as base:
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        await page.goto(f"{base}/dashboard")
        await page.fill("#card", ADMIN_CARD)
        await page.fill("#password", ADMIN_PASSWORD)
        await page.click("#signin-form button[type=submit]")
        await until_tile(page, "members_total", "3")
        assert await tile(page, "accounts_installed") == "0"
        await page.wait_for_selector("#live:not(.off)")  # the stream is open
        assert "Quận Ba Đình" in await page.locator("#children").inner_text()

        # A member signs up on the web: installed +1, pending +1, without a reload.
        signed_up = await c.post("/api/identity/v1/registrations", json={
            "party_card_no": "010000001", "full_name": "Nguyễn Văn An", "date_of_birth": "1960-05-01",
            "phone": "0910000001", "password": "Chi bo so 1 vung manh", "platform": "web", "consent": CONSENT})
        assert signed_up.status_code == 202, signed_up.text
        await until_tile(page, "accounts_pending", "1")
        assert (await tile(page, "accounts_installed"), await tile(page, "accounts_web")) == ("1", "1")

        # The approval: pending −1, approved +1.
        queue = (await c.get("/api/identity/v1/registrations", params={"status": "pending"}, headers=admin)).json()
        approved = await c.post(f"/api/identity/v1/registrations/{queue['items'][0]['id']}/approve", headers=admin)
        assert approved.status_code == 200, approved.text
        await until_tile(page, "accounts_approved", "1")
        assert await tile(page, "accounts_pending") == "0"
        assert await tile(page, "installed_pct_total") == "33,33%"
        await expect(page.locator("#summary")).to_contain_text("1 đảng viên")
        await screenshot(page, "dashboard-city")

        # Down to the committee, then back up by the trail.
        await page.click('#children a:has-text("Quận Ba Đình")')
        await expect(page.locator("#unit-name")).to_have_text("Quận Ba Đình")
        await until_tile(page, "accounts_installed", "1")
        await screenshot(page, "dashboard-committee")
        await page.click("#crumbs a")
        await expect(page.locator("#unit-name")).to_have_text("Thành phố Hà Nội")

        # English.
        await page.select_option("#lang", "en")
        await page.wait_for_selector("text=Pending approval")
        await page.close()


async def test_a_unit_admin_sees_only_their_subtree(system, browser):
    """A unit the admin does not cover, asked for in the address: not a wall (issue 18), their own
    unit, and a word on why; nothing of the city shown."""
    async with real_server(system) as base:
        page = await browser.new_page()
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/dashboard?unit=ba-dinh")
        await until_tile(page, "members_total", "3")
        await page.goto(f"{base}/dashboard?unit=city")
        await expect(page.locator("#notice")).to_contain_text("không phụ trách")
        await expect(page.locator("#unit-name")).to_have_text("Quận Ba Đình")
        await expect(page.locator("#error")).to_be_empty()
        assert "Thành phố Hà Nội" not in await page.locator("#board").inner_text()  # nothing of the city shown
        await page.close()
