"""Browser tests: Debian's chromium (the Makefile's test set-up installs it)
driven by Playwright, against the system served by a real uvicorn server.
Screenshots go to build/screenshots/. Without chromium the tests are skipped,
unless SOTAY_REQUIRE_BROWSER=1 (CI sets it): then they fail."""

from __future__ import annotations

import asyncio
import os
import shutil
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import expect

import services.content
import services.identity
import services.members
import services.metrics
import hashlib

from services.identity.adapters import store as identity_store
from services.identity.adapters.passwords import HASHER
from services.identity.handlers.accounts import create_user
from tests.support.system import (
    identity_holds_registry,
    import_registry,
    make_settings,
    registry_row,
    running_system,
)

# How long an assertion waits for the page to get there. Playwright's 5 s is short for a 2-core CI
# machine running four services, their servers and Chromium at once: a page that takes 6 s there
# is slow, not wrong (performance is the benchmarks' to measure, never these waits).
expect.set_options(timeout=15_000)

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
    """The page at desktop width (1366 px, the issue's), then at phone width (390 px); then at
    the size it had."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    was = page.viewport_size
    for label, size in (("desktop", {"width": 1366, "height": 900}), ("phone", {"width": 390, "height": 844})):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(was)


ADMIN_CARD, ADMIN_PASSWORD = "019999999", "Mat khau cua ban to chuc"
STAFF_PASSWORD = "Mat khau cua can bo"
STAFF_HASH = HASHER.hash(STAFF_PASSWORD)
MEMBERS = [("010000001", "Nguyễn Văn An"), ("010000002", "Trần Thị Bình"), ("010000003", "Lê Văn Cường")]


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with handbook_system(data_dir, nats_url, database_url) as system:
        yield system


@asynccontextmanager
async def handbook_system(data_dir, nats_url, database_url, **settings):
    """Every service, the org tree of a Ba Đình cell with MEMBERS in the registry, and a city admin
    (ADMIN_CARD); `settings` beyond the tests' own."""
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition()]
    async with running_system(definitions, make_settings(data_dir, **settings), nats_url, database_url) as system:
        c, admin = system.client, system.auth("city_admin")
        for unit in ({"code": "city", "name": "Thành phố Hà Nội", "kind": "city"},
                     {"code": "ba-dinh", "name": "Quận Ba Đình", "kind": "committee", "parent": "city", "wave": 1},
                     {"code": "ba-dinh-g1", "name": "Đảng bộ phường Điện Biên", "kind": "grassroots",
                      "parent": "ba-dinh"},
                     {"code": "ba-dinh-g1-c1", "name": "Chi bộ số 1", "kind": "cell", "parent": "ba-dinh-g1"},
                     {"code": "tay-ho", "name": "Quận Tây Hồ", "kind": "committee", "parent": "city", "wave": 2}):
            assert (await c.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201
        await import_registry(c, [registry_row(card, name, "ba-dinh-g1-c1", born="1960-05-01")
                                  for card, name in MEMBERS], admin)
        await identity_holds_registry(system, len(MEMBERS))
        async with system.runtimes["identity"].context.engine.begin() as db:
            await create_user(db, card_no=ADMIN_CARD, card_hash=system.runtimes["identity"].context.pii_hash(ADMIN_CARD),
                              phone="0919999999", password_hash=HASHER.hash(ADMIN_PASSWORD),
                              role="city_admin", unit="city", by="test")
        yield system


async def tile(page, figure: str) -> str:
    return await page.locator(f'#tiles [data-figure="{figure}"] .value').inner_text()


async def until_tile(page, figure: str, value: str) -> None:
    # Playwright's expect, not page.wait_for_function: a string evaluated in the page is an eval,
    # which the pages' Content-Security-Policy refuses.
    from playwright.async_api import expect

    await expect(page.locator(f'#tiles [data-figure="{figure}"] .value')).to_have_text(value, timeout=15000)


async def box_of(locator) -> dict:
    """The element's box once it is on the page. A live page (the dashboard redraws its table on each
    snapshot) can replace the element between Playwright finding it and measuring it, which gives None:
    seen once in a run of the suite on three workers."""
    for _ in range(50):
        await expect(locator).to_be_visible()
        box = await locator.bounding_box()
        if box is not None:
            return box
        await asyncio.sleep(0.1)
    raise AssertionError(f"{locator} stays without a box")


async def publish_article(system, title: str, summary: str, body: str) -> str:
    """An article for the whole city, written, approved and published by two editors; its id."""
    c = system.client
    editor, chief = system.auth("editor", "city", subject="ed"), system.auth("chief_editor", "city", subject="ch")
    aid = (await c.post("/api/content/v1/articles", headers=editor, json={
        "title": title, "summary": summary, "category": "news", "body": body, "audience": ["city"]})).json()["id"]
    for step, who in (("submit", editor), ("approve", chief), ("publish", chief)):
        assert (await c.post(f"/api/content/v1/articles/{aid}/{step}", headers=who)).status_code == 200
    return aid


async def staff_account(system, role: str, unit: str, person: str = "") -> str:
    """The card of a staff account holding `role` over `unit` (made the first time; password
    STAFF_PASSWORD); another `person` is another account with the same role."""
    digits = int(hashlib.sha256(f"{role}@{unit}/{person}".encode()).hexdigest(), 16) % 10**8
    card = f"08{digits:08d}"
    async with system.runtimes["identity"].context.engine.begin() as db:
        if not await identity_store.card_has_account(db, card):
            await create_user(db, card_no=card, card_hash=system.runtimes["identity"].context.pii_hash(card),
                              phone=f"093{digits % 10**7:07d}", password_hash=STAFF_HASH, role=role,
                              unit=unit, by="test")
    return card


async def sign_in_as(page, system, base: str, role: str, unit: str, path: str, *, person: str = "") -> None:
    """Sign the page's browser in as a staff account with `role` over `unit`, as the sign-in form
    does (the refresh cookie is the browser's), then open `path`."""
    card = await staff_account(system, role, unit, person)
    answer = await page.request.post(f"{base}/api/identity/v1/token", form={
        "grant_type": "password", "username": card, "password": STAFF_PASSWORD, "refresh_delivery": "cookie"})
    assert answer.ok, await answer.text()
    await page.goto(f"{base}{path}")
