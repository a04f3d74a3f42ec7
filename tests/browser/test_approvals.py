"""The approval console's other actions in a real browser: approving the
selected registrations at once, rejecting one with a reason (which the
registrant then sees), and the dashboard's exports."""

from __future__ import annotations

import pytest

from sotay.kit.clock import hanoi_day
from tests.browser.conftest import screenshot, sign_in_as
from tests.support.system import CONSENT, real_server

pytestmark = pytest.mark.integration

PEOPLE = [("010000001", "Nguyễn Văn An", "0910000001"), ("010000002", "Trần Thị Bình", "0910000002"),
          ("010000003", "Lê Văn Cường", "0910000003")]
PASSWORD = "Mat khau dai du manh"


async def test_bulk_approval_rejection_with_a_reason_and_exports(system, browser, tmp_path):
    c = system.client
    for card, name, phone in PEOPLE:
        assert (await c.post("/api/identity/v1/registrations", json={
            "party_card_no": card, "full_name": name, "date_of_birth": "1960-05-01", "phone": phone,
            "password": PASSWORD, "platform": "mobile", "consent": CONSENT})).status_code == 202
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)).new_page()
        await sign_in_as(page, system, base, "cell_secretary", "ba-dinh-g1-c1", "/console/approvals")
        for card, _, _ in PEOPLE[:2]:
            await page.check(f'#registrations tr[data-card="{card}"] input.pick')
        await page.click("#approve-selected")
        await page.wait_for_selector("#done:has-text('Đã phê duyệt: 2')")
        # The approved rows stay, showing their new state (issue 18: they no longer vanish).
        await page.wait_for_selector(f'#registrations tr[data-card="{PEOPLE[0][0]}"][data-state="approved"]')

        last = page.locator(f'#registrations tr[data-card="{PEOPLE[2][0]}"]')
        await last.get_by_role("button", name="Từ chối", exact=True).click()
        await last.locator("form.reject input").fill("Sai ngày sinh, đề nghị đăng ký lại")
        await last.locator("form.reject button[type=submit]").click()
        await page.wait_for_selector(f'#registrations tr[data-card="{PEOPLE[2][0]}"][data-state="rejected"]')
        status = (await c.post("/api/identity/v1/registrations/status",
                               json={"party_card_no": PEOPLE[2][0], "password": PASSWORD})).json()
        assert (status["status"], status["reason"]) == ("rejected", "Sai ngày sinh, đề nghị đăng ký lại")

        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/dashboard?unit=ba-dinh")
        await page.wait_for_selector('#tiles [data-figure="accounts_approved"] .value:text-is("2")')
        async with page.expect_download() as download:
            await page.click("#csv")
        saved = tmp_path / "rollout.csv"
        await (await download.value).save_as(saved)
        # The title line, the Vietnamese headings (';' for a Vietnamese Excel), the units below, the total.
        lines = saved.read_text(encoding="utf-8-sig").splitlines()
        assert lines[0].startswith("Tình hình triển khai Sổ tay đảng viên điện tử — Quận Ba Đình — số liệu ngày ")
        assert lines[1].startswith("Đơn vị;Tổng số đảng viên;") and lines[2].startswith("Đảng bộ phường Điện Biên;")
        assert lines[-1].startswith("Tổng cộng: Quận Ba Đình;")
        async with page.expect_download() as download:
            await page.click("#xlsx")
        assert (await download.value).suggested_filename == f"trien-khai-ba-dinh-{hanoi_day():%d-%m-%Y}.xlsx"
        await page.context.close()


async def test_the_approver_sees_a_registrant_s_details_beside_the_record(system, browser):
    """A registration whose details differ from the record (issue 16: someone may register with
    another's card) shows each field beside the record's, dates as dd/mm/yyyy, phones only by
    their last digits, the differing ones marked."""
    card, name, _ = PEOPLE[2]  # rejected above: registers again, with another birth date and phone
    assert (await system.client.post("/api/identity/v1/registrations", json={
        "party_card_no": card, "full_name": name, "date_of_birth": "1961-05-01", "phone": "0987654321",
        "password": PASSWORD, "platform": "web", "consent": CONSENT})).status_code == 202
    async with real_server(system) as base:
        for width in (390, 1366):
            page = await (await browser.new_context(viewport={"width": width, "height": 900})).new_page()
            await sign_in_as(page, system, base, "cell_secretary", "ba-dinh-g1-c1", "/console/approvals")
            row = page.locator(f'#registrations tr[data-card="{card}"]')
            born = row.locator('table.comparison tr[data-field="date_of_birth"]')
            await born.wait_for()
            assert await born.get_attribute("class") == "differs"
            assert "Ngày sinh (khác)" in await born.inner_text()
            # The registry's date of birth is not shown (identity holds it as a keyed hash): the verdict is.
            assert "01/05/1961" in await born.inner_text() and "Không khớp" in await born.inner_text()
            assert "01/05/1960" not in await born.inner_text()
            phone = await row.locator('table.comparison tr[data-field="phone"]').inner_text()
            assert "*******321" in phone and "*******003" in phone and "0987654321" not in phone
            assert await row.locator('table.comparison tr[data-field="full_name"]').get_attribute("class") == ""
            await screenshot(page, f"console-approvals-comparison-{width}")
            await page.context.close()
