"""The registry console in a real browser: a unit admin finds a member
(accents optional), opens the record, transfers them and changes a
standing; imports a file and sees the refused row with its field and
reason; accepts a member's correction request. An admin of another
committee finds nobody of it and the API refuses them."""

from __future__ import annotations

import pytest

from services.members.adapters.import_files import write_csv
from tests.browser.conftest import screenshot, sign_in_as
from tests.support.system import real_server

pytestmark = pytest.mark.integration


async def test_search_record_transfer_import_and_corrections(system, browser, tmp_path):
    c, admin = system.client, system.auth("city_admin")
    assert (await c.post("/api/members/v1/org-units", headers=admin, json={
        "code": "ba-dinh-g1-c2", "name": "Chi bộ số 2", "kind": "cell", "parent": "ba-dinh-g1"})).status_code == 201
    an = (await c.get("/api/members/v1/members", params={"q": "010000001"}, headers=admin)).json()["items"][0]
    asked = await c.post(f"/api/members/v1/members/{an['id']}/corrections",
                         headers=system.auth("member", "ba-dinh-g1-c1", card="010000001"),
                         json={"changes": {"phone": "0977000001"}, "note": "Đổi số mới"})
    assert asked.status_code == 201, asked.text
    rows = [{"party_card_no": card, "full_name": name, "date_of_birth": born, "gender": "", "citizen_id": "",
             "phone": "", "unit": "ba-dinh-g1-c2", "status": "active", "eligible": "true", "ineligible_reason": "",
             "admitted_on": "", "official_on": ""}
            for card, name, born in (("010000011", "Phạm Văn Dũng", "1975-03-02"),
                                     ("010000012", "Hoàng Thị Em", "31/02/1980"),
                                     ("010000013", "Vũ Văn Giang", "1982-07-09"))]
    upload = tmp_path / "dang-vien.csv"
    upload.write_bytes(write_csv(rows))

    async with real_server(system) as base:
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/registry")

        await page.fill("#q", "nguyen van an")
        await page.click("#search-form button")
        await page.locator("#members tr", has_text="Nguyễn Văn An").locator("button.open").click()
        await page.wait_for_selector("#member-name:has-text('Nguyễn Văn An')")
        await page.fill("#to-unit", "chi bo so 2")
        await page.click("#to-unit-results button.unit-choice")
        await page.fill("#transfer-reason", "Chuyển nơi cư trú")
        await page.click("#transfer-form > p > button")
        await page.click("#transfer-confirm button.yes")
        await page.wait_for_selector("dd[data-field=unit]:has-text('Chi bộ số 2')")
        await page.select_option("#new-status", "exempt")
        await page.fill("#status-reason", "Tuổi cao, sức yếu")
        await page.click("#status-form button")
        await page.wait_for_selector("dd[data-field=status]:has-text('Miễn sinh hoạt')")

        await page.set_input_files("#file", str(upload))
        await page.click("#import-form button")
        await page.wait_for_selector("#import-progress:has-text('Đã nhập: 2')")
        refused = await page.locator("tr.import-error").all_inner_texts()
        assert len(refused) == 1 and "Ngày sinh" in refused[0] and "phải là ngày có thật" in refused[0]

        request = page.locator(f'#corrections tr[data-id="{asked.json()["id"]}"]')
        assert "0977 000 001" in await request.inner_text()
        await screenshot(page, "console-registry")
        await request.locator("button.accept").click()
        await request.wait_for(state="detached")
        record = (await c.get(f"/api/members/v1/members/{an['id']}", headers=admin)).json()
        assert (record["unit"], record["status"], record["phone"]) == ("ba-dinh-g1-c2", "exempt", "+84977000001")  # phones are kept normalised

        outsider = await (await browser.new_context()).new_page()
        await sign_in_as(outsider, system, base, "unit_admin", "tay-ho", "/console/registry")
        await outsider.wait_for_selector("#error:not(:empty), #members tbody tr")
        assert "Nguyễn Văn An" not in await outsider.locator("#members").inner_text()
        refused_api = await c.post(f"/api/members/v1/members/{an['id']}/transfers", json={"to_unit": "ba-dinh-g1-c1"},
                                   headers=system.auth("unit_admin", "tay-ho"))
        assert refused_api.status_code in (403, 404)
        for p in (page, outsider):
            await p.context.close()


async def test_a_refused_sign_up_says_why_in_the_readers_language(system, browser):
    async with real_server(system) as base:
        page = await (await browser.new_context()).new_page()
        await page.goto(f"{base}/")
        await page.fill("#su-card", "12")
        await page.fill("#su-name", "Nguyễn Văn An")
        await page.fill("#su-born", "1960-05-01")
        await page.fill("#su-phone", "12345")
        await page.fill("#su-password", "ngan")
        await page.click("#signup-form button[type=submit]")
        await page.wait_for_selector("#signup-error:not(:empty)")
        said = await page.locator("#signup-error").inner_text()
        assert "Số thẻ đảng viên: phải gồm 8 đến 12 chữ số" in said and "Số điện thoại:" in said, said
        await page.select_option("#lang", "en")
        await page.wait_for_selector("text=Create an account")
        await page.context.close()
