"""The approval console's other actions in a real browser: approving the
selected registrations at once, rejecting one with a reason (which the
registrant then sees), and the dashboard's exports."""

from __future__ import annotations

import pytest

from tests.support.system import real_server

pytestmark = pytest.mark.integration

PEOPLE = [("010000001", "Nguyễn Văn An", "0910000001"), ("010000002", "Trần Thị Bình", "0910000002"),
          ("010000003", "Lê Văn Cường", "0910000003")]
PASSWORD = "Mat khau dai du manh"


async def test_bulk_approval_rejection_with_a_reason_and_exports(system, browser, tmp_path):
    c = system.client
    for card, name, phone in PEOPLE:
        assert (await c.post("/api/identity/v1/registrations", json={
            "party_card_no": card, "full_name": name, "date_of_birth": "1960-05-01", "phone": phone,
            "password": PASSWORD, "platform": "mobile"})).status_code == 202
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)).new_page()
        await page.goto(f"{base}/console/approvals")
        await page.evaluate("t => sessionStorage.setItem('sotay.token', t)",
                            system.token("cell_secretary", "ba-dinh-g1-c1", subject="bi-thu"))
        await page.goto(f"{base}/console/approvals")
        for card, _, _ in PEOPLE[:2]:
            await page.check(f'#registrations tr[data-card="{card}"] input.pick')
        await page.click("#approve-selected")
        await page.wait_for_selector("#done:has-text('Đã phê duyệt: 2')")
        await page.wait_for_selector(f'#registrations tr[data-card="{PEOPLE[0][0]}"]', state="detached")

        last = page.locator(f'#registrations tr[data-card="{PEOPLE[2][0]}"]')
        await last.get_by_role("button", name="Từ chối", exact=True).click()
        await last.locator("form.reject input").fill("Sai ngày sinh, đề nghị đăng ký lại")
        await last.locator("form.reject button").click()
        await last.wait_for(state="detached")
        status = (await c.post("/api/identity/v1/registrations/status",
                               json={"party_card_no": PEOPLE[2][0], "password": PASSWORD})).json()
        assert (status["status"], status["reason"]) == ("rejected", "Sai ngày sinh, đề nghị đăng ký lại")

        await page.goto(f"{base}/dashboard?unit=ba-dinh")
        await page.evaluate("t => sessionStorage.setItem('sotay.token', t)", system.token("unit_admin", "ba-dinh"))
        await page.goto(f"{base}/dashboard?unit=ba-dinh")
        await page.wait_for_selector('#tiles [data-figure="accounts_approved"] .value:text-is("2")')
        async with page.expect_download() as download:
            await page.click("#csv")
        saved = tmp_path / "rollout.csv"
        await (await download.value).save_as(saved)
        lines = saved.read_text(encoding="utf-8-sig").splitlines()
        assert lines[0].startswith("unit_code,unit_name,members_total") and lines[1].startswith("ba-dinh,")
        async with page.expect_download() as download:
            await page.click("#xlsx")
        assert (await download.value).suggested_filename == "rollout-ba-dinh.xlsx"
        await page.context.close()
