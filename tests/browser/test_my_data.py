"""A member sees, and downloads, everything the system holds about them (a data subject's access
request, issue 19): one page gathering every service's part in Vietnamese (fields by name, dates
dd/mm/yyyy, units by name), and the same as a JSON file."""

from __future__ import annotations

import json
import re

import pytest
from playwright.async_api import expect

from tests.browser.conftest import screenshot
from tests.browser.test_handbook import member_account, no_english, sign_in, small_targets
from tests.support.system import real_server

pytestmark = pytest.mark.integration


async def test_a_member_sees_and_downloads_all_their_data(system, browser):
    await member_account(system, "010000002", "Trần Thị Bình")
    async with real_server(system) as base:
        context = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN",
                                            accept_downloads=True)
        page = await context.new_page()
        await sign_in(page, base, "010000002")
        await page.click('a[href="#profile"]')
        await page.click("#open-my-data")
        sections = page.locator("section.my-data")
        await expect(sections).to_have_count(4)
        await expect(sections.locator("h2")).to_have_text(["Hồ sơ đảng viên", "Tài khoản", "Tin tức, ý kiến, sinh hoạt",
                                                          "Số liệu triển khai"])
        members = page.locator('section.my-data[data-service="members"]')
        await expect(members.locator('ul[data-part="record"]')).to_contain_text("Số thẻ đảng viên")
        await expect(members.locator('ul[data-part="record"]')).to_contain_text("010000002")
        await expect(members.locator('ul[data-part="record"]')).to_contain_text("01/05/1960")
        await expect(members.locator('ul[data-part="record"] dd[data-unit]').first).to_have_text("Chi bộ số 1")
        # Her own look at her record is among its reads, said in Vietnamese.
        await expect(members.locator('ul[data-part="reads_of_your_record"]')).to_contain_text("chính đồng chí xem")
        # Every field by its name, every unit by its name (the committee, the place in the tree too).
        await expect(members.locator('ul[data-part="record"]')).to_contain_text("Quận Ba Đình")
        await expect(members.locator('ul[data-part="record"]')).to_contain_text(
            "Thành phố Hà Nội › Quận Ba Đình › Đảng bộ phường Điện Biên › Chi bộ số 1")
        said = await page.evaluate("""() => [...document.querySelectorAll('section.my-data dt, section.my-data dd')]
          .map((e) => e.textContent.trim())""")
        assert not [w for w in said if re.fullmatch(r"[a-z]+(_[a-z]+)+|/?city(/[a-z0-9-]+)*/?|ba-dinh[a-z0-9-]*", w)], said
        # On a phone a record reads down, each value under its name, as wide as the card.
        record = members.locator('ul[data-part="record"] dl').first
        card, value = await record.bounding_box(), await record.locator("dd").first.bounding_box()
        assert value["width"] > 0.9 * card["width"], (value, card)
        await no_english(page)
        assert await small_targets(page) == []
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390, "nothing wider than the phone"
        await screenshot(page, "handbook-my-data")

        async with page.expect_download() as downloading:
            await page.click("#download-my-data")
        download = await downloading.value
        assert download.suggested_filename.startswith("du-lieu-cua-toi-") and download.suggested_filename.endswith(".json")
        data = json.loads(open(await download.path(), encoding="utf-8").read())
        assert [s["service"] for s in data["services"]] == ["members", "identity", "content", "metrics"]
        assert data["services"][0]["parts"]["record"][0]["party_card_no"] == "010000002"
        await context.close()
