"""Every page works under the Content-Security-Policy the services send (sotay/kit/http.py): no inline
script or style, nothing from another origin. Each page is opened at phone width (390 px) and at a
desktop's (1366 px), signed out and then signed in (so its script draws what it draws: tables, the
dashboard's bars and chart), and any violation the browser reports fails the test."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from sotay.kit.http import CONTENT_SECURITY_POLICY
from sotay.kit.pages import PAGES
from tests.browser.conftest import ADMIN_CARD, ADMIN_PASSWORD
from tests.support.system import real_server

pytestmark = pytest.mark.integration

WIDTHS = (390, 1366)
# Recorded before any script of the page runs: every violation the page causes.
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


async def open_page(browser, url: str, width: int):
    """The page, with every CSP violation and script error it reports, as the browser reports them."""
    context = await browser.new_context(viewport={"width": width, "height": 900})
    await context.add_init_script(RECORD_VIOLATIONS)
    page = await context.new_page()
    reported: list[str] = []
    page.on("console", lambda m: reported.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: reported.append(f"script error: {e}"))
    response = await page.goto(url)
    assert response.status == 200, url
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    return page, reported


async def violations(page, reported: list[str]) -> list[str]:
    return reported + await page.evaluate("window.__violations")


async def sign_in(page) -> None:
    if not await page.locator("#signin-form").count():
        return  # a page without sign-in (the consoles' index)
    await page.fill("#card", ADMIN_CARD)
    await page.fill("#password", ADMIN_PASSWORD)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_selector("#signin-form", state="hidden")


@pytest.mark.parametrize("width", WIDTHS)
async def test_every_page_works_under_the_content_security_policy(system, browser, width):
    async with real_server(system) as base:
        for route in PAGES:
            page, reported = await open_page(browser, base + route, width)
            await page.wait_for_load_state("load")
            assert await violations(page, reported) == [], f"{route} at {width} px, signed out"
            await sign_in(page)
            if route == "/dashboard":  # drawn by script: the funnel's bars, the progress chart (SVG)
                await page.wait_for_selector("#funnel .fill")
                await expect(page.locator("#chart")).not_to_be_empty()
            assert await violations(page, reported) == [], f"{route} at {width} px, signed in"
            await page.context.close()


async def test_the_asyncapi_page_works_under_the_content_security_policy(system, browser):
    async with real_server(system) as base:
        for service in system.runtimes:
            page, reported = await open_page(browser, f"{base}/api/{service}/v1/asyncapi.html", 1366)
            await page.wait_for_load_state("load")
            # Its own stylesheet applies (a table border is not the browser's default).
            border = await page.evaluate("getComputedStyle(document.querySelector('th')).borderTopStyle")
            assert border == "solid", service
            assert await violations(page, reported) == [], service
            await page.context.close()


async def test_a_violation_is_seen_when_there_is_one(system, browser):
    """The check above is not blind: an inline style and an outside image are reported."""
    async with real_server(system) as base:
        page, reported = await open_page(browser, f"{base}/console/", 390)
        await page.evaluate("""() => {
            document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>');
            const img = new Image(); img.src = "https://evil.example/pixel.png"; document.body.append(img);
        }""")
        # (Waiting with page.wait_for_function would itself be an eval the policy refuses.)
        for _ in range(200):
            found = await violations(page, reported)
            if len(found) >= 2:
                break
            await asyncio.sleep(0.05)
        assert any("style-src" in v for v in found) and any("img-src" in v for v in found), found
        await page.context.close()
