"""The operators' line on unusual reads (docs/breach-runbook.md): a staff account that opens more
full records within an hour than the threshold (set low here) shows, on a city operator's
registry console, as one line in Vietnamese saying who, how many and when; the operator
downloads what that account opened (the file for the authority) and closes the alert with what
was found. A clerk of the organisation board sees no such section."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import expect

from tests.browser.conftest import MEMBERS, handbook_system, screenshot, sign_in_as
from tests.browser.test_consoles_in_vietnamese import english
from tests.support.system import real_server

pytestmark = pytest.mark.integration

THRESHOLD = 2
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with handbook_system(data_dir, nats_url, database_url, unusual_reads_per_hour=THRESHOLD) as system:
        yield system


async def test_an_operator_sees_unusual_reads_in_vietnamese_downloads_them_and_closes_the_alert(system, browser):
    c = system.client
    cuong_card, cuong = MEMBERS[2]  # a member who also keeps ba-dinh's registry
    found = await c.get("/api/members/v1/members", headers=system.auth("city_admin"))
    ids = [m["id"] for m in found.json()["items"] if m["party_card_no"] != cuong_card]
    heavy = system.auth("unit_admin", "ba-dinh", subject="clerk-heavy", card=cuong_card)
    for member_id in (ids[0], ids[1], ids[0]):  # one past the threshold
        assert (await c.get(f"/api/members/v1/members/{member_id}", headers=heavy)).status_code == 200

    async with real_server(system) as base:
        clerk = await (await browser.new_context(viewport=DESKTOP, locale="vi-VN")).new_page()
        await sign_in_as(clerk, system, base, "unit_admin", "ba-dinh", "/console/registry")
        await clerk.wait_for_selector("#members tbody tr[data-id]")
        await expect(clerk.locator("#alerts")).to_be_hidden()

        page = await (await browser.new_context(viewport=DESKTOP, locale="vi-VN", accept_downloads=True)).new_page()
        await sign_in_as(page, system, base, "city_admin", "city", "/console/registry")
        line = page.locator("#alert-list li.alert .alert-line")
        await expect(line).to_have_count(1)
        said = await line.inner_text()
        assert said.startswith(f"{cuong} (Ban Tổ chức, Quận Ba Đình) đã mở 3 hồ sơ đầy đủ"), said
        assert "vượt ngưỡng 2 hồ sơ một giờ" in said
        assert re.search(r"từ \d{2}:\d{2} \d{2}/\d{2}/\d{4} đến \d{2}:\d{2} \d{2}/\d{2}/\d{4}", said), said
        await page.wait_for_selector("#members tbody tr[data-id]")
        assert await english(page, cuong) == []
        await screenshot(page, "registry-unusual-reads")

        async with page.expect_download() as downloading:
            await page.click("#alert-list li.alert button.download")
        saved = await downloading.value
        assert re.fullmatch(r"lich-su-truy-cap-\d{8}-\d{4}\.xlsx", saved.suggested_filename)
        book = load_workbook(io.BytesIO(Path(await saved.path()).read_bytes()))
        opened = list(book["Chi tiết truy cập"].iter_rows(min_row=2, values_only=True))
        assert [(row[5], row[6]) for row in opened] == [("clerk-heavy", cuong)] * 3

        # Closed with what was found, said in the page: never a prompt() box.
        await page.click("#alert-list li.alert form.close-form button[type=submit]")
        await expect(page.locator(".field-error")).to_have_text("Đề nghị ghi nội dung đã kiểm tra.")
        await page.fill("#alert-list textarea.alert-note", "Đã hỏi đồng chí Cường: rà soát hồ sơ chi bộ.")
        await page.click("#alert-list li.alert form.close-form button[type=submit]")
        await expect(page.locator("#alerts-done")).to_have_text(
            f"Đã đóng cảnh báo về {cuong} (Ban Tổ chức, Quận Ba Đình).")
        await expect(page.locator("#alert-list li")).to_have_text("Không có cảnh báo nào.")
        closed = (await c.get("/api/members/v1/alerts", params={"status": "all"},
                              headers=system.auth("city_admin"))).json()["items"]
        assert [a["note"] for a in closed] == ["Đã hỏi đồng chí Cường: rà soát hồ sơ chi bộ."]
