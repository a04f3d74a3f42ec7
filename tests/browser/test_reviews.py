"""The yearly review and ranking (issue 20) as its people do it, in Vietnamese: the city opens the
year's cycle in the reviews console (dates typed dd/mm/yyyy); a member writes their self-assessment
and proposes a level on a phone; the cell's secretary proposes a level with the cell's comment; the
unit administrator decides, and is warned that the unit's share of excellent members passes the
cap (the decision stands); the member sees the result, and last year's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from sotay.kit.clock import hanoi_day
from tests.browser.conftest import screenshot, sign_in_as
from tests.browser.test_handbook import member_account, no_english, sign_in, small_targets
from tests.support.system import real_server

pytestmark = pytest.mark.integration

PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1366, "height": 900}
AN = ("010000001", "Nguyễn Văn An")
WORDS = "Năm nay tôi gương mẫu, tham gia đầy đủ sinh hoạt chi bộ và hoàn thành tốt việc của tổ dân phố."
COMMENT = "Đồng chí gương mẫu, nhiệt tình, được quần chúng tín nhiệm."


def ddmmyyyy(d) -> str:
    return d.strftime("%d/%m/%Y")


async def last_year_decided(system, card: str, year: int) -> None:
    """Last year's cycle, long closed, and the member's level then (as the demo writes them)."""
    async with system.runtimes["members"].context.engine.begin() as db:
        await db.execute(text("INSERT INTO review_cycles (year, self_assessment_due, decision_due, opened_by) "
                              "VALUES (:y, make_date(:y, 12, 5), make_date(:y, 12, 25), 'city') "
                              "ON CONFLICT DO NOTHING"), {"y": year})
        await db.execute(text(
            "INSERT INTO reviews (id, year, member_id, unit_id, self_assessment, proposed_level, submitted_at, "
            "cell_level, cell_comment, cell_by, cell_at, decided_level, decided_unit_id, decided_by, decided_at) "
            "SELECT gen_random_uuid(), :y, m.id, m.unit_id, 'Bản tự kiểm điểm năm trước', 'good', now(), 'good', "
            "'Hoàn thành tốt', 'x', now(), 'good', (SELECT id FROM org_units WHERE code = 'ba-dinh-g1'), 'x', "
            "make_date(:y, 12, 20) FROM members m WHERE m.party_card_no = :c ON CONFLICT DO NOTHING"),
            {"y": year, "c": card})


async def test_the_city_opens_a_member_writes_the_cell_proposes_the_unit_decides_warned(system, browser):
    await member_account(system, *AN)
    today = hanoi_day()
    year = today.year
    await last_year_decided(system, AN[0], year - 1)
    self_due, decision_due = today + timedelta(days=10), today + timedelta(days=30)
    async with real_server(system) as base:
        # The city opens the year's cycle; a day that does not exist is said beside its field.
        desk = await browser.new_context(viewport=DESKTOP, locale="vi-VN")
        city = await desk.new_page()
        await sign_in_as(city, system, base, "city_admin", "city", "/console/reviews")
        form = city.locator("#open-cycle")
        await expect(form).to_be_visible()
        await city.fill("#cy-year", str(year))
        await city.fill("#cy-self", "31/02/" + str(year))
        await city.fill("#cy-decision", ddmmyyyy(decision_due))
        await form.locator("button[type=submit]").click()
        await expect(city.locator("#cy-self-error")).to_contain_text("ngày có thật")
        await city.fill("#cy-self", ddmmyyyy(self_due))
        await form.locator("button[type=submit]").click()
        await expect(city.locator("#open-done")).to_have_text(f"Đã mở đợt kiểm điểm năm {year}.")
        await expect(city.locator(f"#cycle-list li[data-year='{year}']")).to_contain_text(
            f"nộp bản tự kiểm điểm đến {ddmmyyyy(self_due)}")
        await expect(city.locator("#unit-title")).to_contain_text("Thành phố Hà Nội")
        await expect(city.locator("#reviews")).to_contain_text("Thành ủy xem số liệu tổng hợp")
        await no_english(city)
        await screenshot(city, "reviews-city")

        # A member writes on a phone: nothing written is said beside the field; sent, it is confirmed.
        phone = await browser.new_context(viewport=PHONE, locale="vi-VN")
        page = await phone.new_page()
        await sign_in(page, base, AN[0])
        await page.click("a[href='#review']")
        await expect(page.locator("#review-now h2")).to_have_text(f"Kiểm điểm, đánh giá, xếp loại đảng viên năm {year}")
        await expect(page.locator("#rv-due")).to_have_text(ddmmyyyy(self_due))
        await page.locator("#review-form button[type=submit]").click()
        await expect(page.locator("#rv-text")).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#review-error")).to_contain_text("Bản tự kiểm điểm: cần điền")
        await page.fill("#rv-text", WORDS)
        await page.check("#rv-level-excellent")
        await page.select_option("#lang", "en")  # the other language, in place: what was written stays
        await expect(page.locator("#review-now h2")).to_have_text(f"The yearly review and ranking of {year}")
        assert await page.input_value("#rv-text") == WORDS and await page.is_checked("#rv-level-excellent")
        await page.select_option("#lang", "vi")
        await expect(page.locator("#review-now h2")).to_contain_text("Kiểm điểm, đánh giá")
        assert await page.is_checked("#rv-level-excellent")
        await page.locator("#review-form button[type=submit]").click()
        await expect(page.locator("#review-done")).to_contain_text(
            f"Đã gửi bản tự kiểm điểm. Đồng chí có thể sửa và gửi lại đến hết ngày {ddmmyyyy(self_due)}.")
        await expect(page.locator("#rv-history li[data-year='%d']" % (year - 1))).to_contain_text(
            "Kết quả xếp loại: Hoàn thành tốt nhiệm vụ")
        await no_english(page)
        assert await small_targets(page) == []
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
        await screenshot(page, "handbook-review")

        # The cell's secretary, on a phone: proposes for An with the cell's comment; Bình has not written.
        cell_phone = await browser.new_context(viewport=PHONE, locale="vi-VN")
        secretary = await cell_phone.new_page()
        await sign_in_as(secretary, system, base, "cell_secretary", "ba-dinh-g1-c1", "/console/reviews")
        an = secretary.locator("#reviews li", has_text=AN[1])
        await expect(an).to_contain_text("Tự đề xuất")
        await expect(an).to_contain_text("Hoàn thành xuất sắc nhiệm vụ")
        await expect(secretary.locator("#reviews li", has_text="Trần Thị Bình")).to_contain_text(
            f"Chờ đảng viên nộp bản tự kiểm điểm (hạn {ddmmyyyy(self_due)})")
        await an.locator("details summary").click()
        await expect(an.locator(".own-words")).to_have_text(WORDS)
        await an.locator("form.propose select").select_option("excellent")
        await an.locator("form.propose button[type=submit]").click()  # no comment: said beside it
        await expect(an.locator("form.propose textarea")).to_have_attribute("aria-invalid", "true")
        await an.locator("form.propose textarea").fill(COMMENT)
        await an.locator("form.propose button[type=submit]").click()
        await expect(secretary.locator("#act-done")).to_have_text(f"Đã ghi đề xuất của chi bộ cho đồng chí {AN[1]}.")
        await expect(secretary.locator("#reviews li", has_text=AN[1])).to_contain_text(COMMENT)
        await expect(secretary.locator("#waiting")).to_contain_text("Chi bộ số 1: chi bộ đã đề xuất 1/3 đảng viên")
        await no_english(secretary)
        assert await small_targets(secretary) == []
        assert await secretary.evaluate("() => document.documentElement.scrollWidth") <= 390
        await screenshot(secretary, "reviews-secretary")

        # The unit decides An excellent: 1 of its 3 members is past the 20% cap: warned, decided all the same.
        office = await browser.new_context(viewport=DESKTOP, locale="vi-VN")
        unit = await office.new_page()
        await sign_in_as(unit, system, base, "unit_admin", "ba-dinh-g1", "/console/reviews")
        an = unit.locator("#reviews li", has_text=AN[1])
        await expect(an.locator("form.decide select")).to_have_value("excellent")  # the cell's proposal
        await an.locator("form.decide button[type=submit]").click()
        await expect(unit.locator("#act-done")).to_have_text(
            f"Đã quyết định xếp loại đồng chí {AN[1]}: Hoàn thành xuất sắc nhiệm vụ.")
        decided = unit.locator("#reviews li", has_text=AN[1])
        await expect(decided.locator(".decide-warning")).to_contain_text("Cảnh báo: Đảng bộ phường Điện Biên đã có 1/3")
        await expect(decided.locator(".decide-warning")).to_contain_text("vượt mức tối đa 20%")
        await expect(unit.locator("#excellent-warning")).to_have_class("warn")
        await expect(unit.locator("#levels tr[data-level=excellent]")).to_contain_text("33,33%")
        await expect(unit.locator("#tiles [data-figure=decided] .value")).to_have_text("1")
        await no_english(unit)
        assert await small_targets(unit) == []
        await screenshot(unit, "reviews-unit")
        await unit.set_viewport_size(PHONE)
        assert await unit.evaluate("() => document.documentElement.scrollWidth") <= 390

        # The member sees the result, and by whom it was decided.
        await page.reload()
        await page.click("a[href='#review']")
        await expect(page.locator(f"#rv-result-{year}")).to_have_text("Kết quả xếp loại: Hoàn thành xuất sắc nhiệm vụ")
        await expect(page.locator("#review-now")).to_contain_text(COMMENT)
        await expect(page.locator("#review-now")).to_contain_text("Đảng bộ phường Điện Biên")
        await expect(page.locator("#review-form")).to_have_count(0)  # decided: nothing more to write
        await no_english(page)
        assert await small_targets(page) == []
        await screenshot(page, "handbook-review-decided")
        for context in (desk, phone, cell_phone, office):
            await context.close()
