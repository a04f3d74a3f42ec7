"""A member's request about their data (issue 19), on a phone in Vietnamese: sent from the
handbook's profile, its deadlines shown dd/mm/yyyy; the unit admin acknowledges it in the registry
console (confirmed in the page), and the member sees it acknowledged; a request to erase the
registry refused with the standard reason, which the member reads."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from sotay.kit import workdays
from sotay.kit.clock import hanoi_day
from tests.browser.conftest import screenshot, sign_in_as
from tests.browser.test_handbook import (
    member_account,
    no_english,
    sign_in,
    small_targets,
)
from tests.support.system import real_server

pytestmark = pytest.mark.integration


def ddmmyyyy(d) -> str:
    return d.strftime("%d/%m/%Y")


async def test_a_member_asks_and_the_unit_admin_acknowledges(system, browser):
    await member_account(system, "010000003", "Lê Văn Cường")
    ack_by, due_by = workdays.calendar().deadlines(hanoi_day())
    async with real_server(system) as base:
        phone = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page = await phone.new_page()
        await sign_in(page, base, "010000003")
        await page.click('a[href="#profile"]')
        form = page.locator("#request-form")
        await form.locator("#rq-kind").select_option("erasure")
        await expect(page.locator("#rq-erasure-note")).to_be_visible()
        await form.locator("button[type=submit]").click()  # nothing asked: said beside the field
        await expect(page.locator("#rq-asked")).to_have_attribute("aria-invalid", "true")
        await page.fill("#rq-asked", "Tôi muốn xoá toàn bộ hồ sơ của tôi")
        await form.locator("button[type=submit]").click()
        await expect(page.locator("#request-done")).to_have_text("Yêu cầu đã được gửi tới chi bộ.")
        await form.locator("#rq-kind").select_option("restriction")
        await page.fill("#rq-asked", "Chỉ bí thư chi bộ được xem số điện thoại của tôi")
        await form.locator("button[type=submit]").click()
        item = page.locator("#my-requests li").first
        await expect(item).to_contain_text("Hạn chế việc dùng hoặc xem dữ liệu của tôi")
        await expect(item).to_contain_text(f"Hạn trả lời: {ddmmyyyy(ack_by)}")
        await expect(item).to_contain_text(f"Hạn giải quyết: {ddmmyyyy(due_by)}")
        await no_english(page)
        assert await small_targets(page) == []
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
        await screenshot(page, "handbook-subject-requests")

        desk = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        console = await desk.new_page()
        await sign_in_as(console, system, base, "unit_admin", "ba-dinh", "/console/registry")
        restriction = console.locator("#dsr-list li", has_text="Chỉ bí thư chi bộ")
        await expect(restriction).to_contain_text("Lê Văn Cường")
        await expect(restriction).to_contain_text(f"Hạn trả lời: {ddmmyyyy(ack_by)}")
        await restriction.locator("button.acknowledge").click()
        await restriction.locator("form.confirm button.yes").click()
        await expect(console.locator("#dsr-done")).to_have_text("Đã cập nhật yêu cầu của đồng chí Lê Văn Cường.")
        await expect(console.locator("#dsr-list li", has_text="Chỉ bí thư chi bộ")).to_have_attribute(
            "data-status", "acknowledged")

        erasure = console.locator("#dsr-list li", has_text="xoá toàn bộ")
        await erasure.locator("button.refuse").click()
        await erasure.locator("button.preset").click()
        await erasure.locator("form.refuse-form button.send").click()
        await expect(console.locator("#dsr-list li", has_text="xoá toàn bộ")).to_have_count(0)
        await no_english(console)
        # The section's own targets (the file inputs of the import and the reconciliation are the
        # browser's, hidden under their labels: 44 px buttons).
        assert [t for t in await small_targets(console) if 'type="file"' not in t] == []
        await screenshot(console, "registry-subject-requests")

        await page.reload()
        await page.click('a[href="#profile"]')
        refused = page.locator("#my-requests li[data-status=refused]")
        await expect(refused).to_contain_text("Lý do không thực hiện: Hồ sơ đảng viên được lưu giữ theo Điều lệ")
        await expect(page.locator("#my-requests li", has_text="Chỉ bí thư chi bộ")).to_contain_text(
            "Chi bộ đã nhận, đang giải quyết")

        # The unit admin restricts processing, which settles the request: the member reads what was
        # done, and the registry's record says the data is restricted.
        restriction = console.locator("#dsr-list li", has_text="Chỉ bí thư chi bộ")
        await restriction.locator("button.restrict").click()
        await expect(restriction.locator("form.restrict-form textarea")).to_have_value(
            re.compile("^Đã hạn chế xử lý dữ liệu của đồng chí"))
        await restriction.locator("form.restrict-form button.send").click()
        await expect(console.locator("#dsr-done")).to_have_text("Đã cập nhật yêu cầu của đồng chí Lê Văn Cường.")
        await expect(console.locator("#dsr-list li", has_text="Chỉ bí thư chi bộ")).to_have_count(0)
        await page.reload()
        await page.click('a[href="#profile"]')
        await expect(page.locator("#my-requests li", has_text="Chỉ bí thư chi bộ")).to_contain_text(
            "Đã hạn chế xử lý dữ liệu của đồng chí")
        async with system.runtimes["members"].context.engine.connect() as db:
            restricted = (await db.execute(text(
                "SELECT restricted_at IS NOT NULL FROM members WHERE party_card_no = '010000003'"))).scalar_one()
        assert restricted
        await phone.close()
        await desk.close()
