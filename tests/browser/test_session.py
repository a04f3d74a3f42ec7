"""The web keeps a signed-in person signed in without a long-lived secret scripts can read
(issue 16): the refresh token in an HttpOnly cookie of the token endpoint, the access token
in the page's memory, renewed before it expires; a new tab is signed in from the cookie;
signing out ends it everywhere."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.conftest import STAFF_PASSWORD, staff_account
from tests.support.system import real_server

pytestmark = pytest.mark.integration


async def stored(page) -> str:
    """Everything a script of the page can read that outlives it: storage and cookies."""
    return await page.evaluate("() => JSON.stringify([Object.entries(localStorage), "
                               "Object.entries(sessionStorage), document.cookie])")


async def test_a_sign_in_lasts_across_tabs_and_renewals_and_no_script_can_read_its_secret(system, browser):
    card = await staff_account(system, "unit_admin", "ba-dinh")
    async with real_server(system) as base:
        context = await browser.new_context(viewport={"width": 390, "height": 844})
        page = await context.new_page()
        await page.clock.install()
        await page.goto(f"{base}/console/approvals")
        await page.fill("#card", card)
        await page.fill("#password", STAFF_PASSWORD)
        await page.click("#signin-form button")
        await expect(page.locator("#signin")).to_be_hidden()
        cookies = {c["name"]: c for c in await context.cookies()}
        refresh = cookies["sotay_refresh"]
        assert refresh["httpOnly"] and refresh["secure"] and refresh["sameSite"] == "Strict"
        assert refresh["path"] == "/api/identity/v1/token"
        readable = await stored(page)
        assert refresh["value"] not in readable and "eyJ" not in readable  # no refresh token, no access token

        # A minute before the access token expires, the page renews it from the cookie.
        async with page.expect_response(lambda r: r.url.endswith("/api/identity/v1/token")
                                        and "refresh_token" in (r.request.post_data or "")) as renewal:
            await page.clock.fast_forward("14:30")
        assert (await renewal.value).ok
        renewed = {c["name"]: c["value"] for c in await context.cookies()}
        assert renewed["sotay_refresh"] != refresh["value"]  # the cookie was used once, and replaced

        # A new tab is signed in from the cookie, without the form.
        tab = await context.new_page()
        await tab.goto(f"{base}/console/approvals")
        await expect(tab.locator("#signin")).to_be_hidden()
        await expect(tab.locator("#signout")).to_be_visible()

        # Signing out ends it: the cookie goes, and a new tab asks to sign in again.
        await tab.click("#signout")
        await expect(tab.locator("#signin")).to_be_visible()
        assert "sotay_refresh" not in {c["name"] for c in await context.cookies()}
        again = await context.new_page()
        await again.goto(f"{base}/console/approvals")
        await expect(again.locator("#signin")).to_be_visible()
        await context.close()
