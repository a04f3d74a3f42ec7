"""The dashboard as leaders use it (issue 18, "Leaders"), at phone and desktop width, locale vi-VN:
it opens at the signed-in person's own unit, never a 403 wall; units by name in the breadcrumb;
the units table sortable, filterable, with the plan's figure for today, ⚠ and a totals row; the
progress chart with a date axis, the plan, the actual history and today; what a figure means
where it could mislead; dates dd/mm/yyyy; the live badge telling the truth when the session has
ended; the Excel report first, named with the unit and the day, a title row and Vietnamese headings."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from sotay.kit.clock import hanoi_day
from tests.browser.conftest import ADMIN_CARD, ADMIN_PASSWORD, box_of, sign_in_as, staff_account, until_tile
from tests.support.system import CONSENT, real_server

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots/dashboard")
MEMBER_CARD, MEMBER_PASSWORD = "010000001", "Chi bo so 1 vung manh"
DMY = re.compile(r"^\d{2}/\d{2}/\d{4}$")


async def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (390, 1366):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.wait_for_timeout(300)  # the chart is redrawn at the new width
        await page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
        if width == 390:  # each part at its real size, to look at closely
            parts = page.locator("header.bar, #board section.card")
            for i in range(await parts.count()):
                await parts.nth(i).screenshot(path=str(SHOTS / f"{name}-{width}-part{i}.png"))


async def new_page(browser, width: int = 1366):
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="vi-VN",
                                        timezone_id="Asia/Ho_Chi_Minh", accept_downloads=True)
    return await context.new_page()


async def sign_in_with_form(page, base: str, path: str, card: str, password: str) -> None:
    await page.goto(f"{base}{path}")
    await page.fill("#card", card)
    await page.fill("#password", password)
    await page.click("#signin-form button[type=submit]")


@pytest.fixture(scope="module")
async def member(system):
    """A member of Chi bộ số 1 with an account (registered on the web, approved)."""
    c, admin = system.client, system.auth("city_admin")
    signed_up = await c.post("/api/identity/v1/registrations", json={
        "party_card_no": MEMBER_CARD, "full_name": "Nguyễn Văn An", "date_of_birth": "1960-05-01",
        "phone": "0910000001", "password": MEMBER_PASSWORD, "platform": "web", "consent": CONSENT})
    assert signed_up.status_code == 202, signed_up.text
    queue = (await c.get("/api/identity/v1/registrations", params={"status": "pending"}, headers=admin)).json()
    approved = await c.post(f"/api/identity/v1/registrations/{queue['items'][0]['id']}/approve", headers=admin)
    assert approved.status_code == 200, approved.text
    return MEMBER_CARD


async def test_each_person_s_dashboard_opens_at_their_own_unit(system, browser, member):
    async with real_server(system) as base:
        # A member: their cell, signed in through the form; no wall, no error.
        page = await new_page(browser, 390)
        await sign_in_with_form(page, base, "/dashboard", member, MEMBER_PASSWORD)
        await expect(page.locator("#unit-name")).to_have_text("Chi bộ số 1")
        await until_tile(page, "members_total", "3")
        await expect(page.locator("#crumbs")).to_have_text("Chi bộ số 1")
        await expect(page.locator("#error")).to_be_empty()
        await page.context.close()

        # A cell secretary: their cell, with no units below it said in a sentence on a phone's screen,
        # not an empty table (whose one cell's words sat off to the right).
        page = await new_page(browser, 390)
        await sign_in_as(page, system, base, "cell_secretary", "ba-dinh-g1-c1", "/dashboard")
        await expect(page.locator("#unit-name")).to_have_text("Chi bộ số 1")
        await expect(page.locator("#none-below")).to_have_text("Không có đơn vị trực thuộc.")
        box = await box_of(page.locator("#none-below"))
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        await expect(page.locator("#children")).to_be_hidden()
        await expect(page.locator("#only-active")).to_be_hidden()
        await expect(page.locator("#error")).to_be_empty()
        await page.context.close()

        # A committee admin: their committee; the city in the address says so and shows theirs, not a wall.
        page = await new_page(browser)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/dashboard")
        await expect(page.locator("#unit-name")).to_have_text("Quận Ba Đình")
        await page.goto(f"{base}/dashboard?unit=city")
        await expect(page.locator("#notice")).to_contain_text("Đồng chí không phụ trách đơn vị trong đường dẫn")
        await expect(page.locator("#notice")).to_contain_text("Quận Ba Đình")
        await expect(page.locator("#unit-name")).to_have_text("Quận Ba Đình")
        await expect(page.locator("#error")).to_be_empty()
        assert "Thành phố Hà Nội" not in await page.locator("#board").inner_text()
        # Down the tree and back up: every unit by its name.
        await page.click('#children a:has-text("Đảng bộ phường Điện Biên")')
        await expect(page.locator("#crumbs")).to_have_text(re.compile(r"^Quận Ba Đình\s*›\s*Đảng bộ phường Điện Biên$"))
        await page.click('#crumbs a:has-text("Quận Ba Đình")')
        await expect(page.locator("#unit-name")).to_have_text("Quận Ba Đình")
        await page.context.close()

        # A city admin: the city.
        page = await new_page(browser)
        await sign_in_with_form(page, base, "/dashboard", ADMIN_CARD, ADMIN_PASSWORD)
        await expect(page.locator("#unit-name")).to_have_text("Thành phố Hà Nội")
        await page.context.close()


async def test_the_units_table_sorts_filters_totals_and_shows_the_plan(system, browser, member):
    async with real_server(system) as base:
        page = await new_page(browser)
        await sign_in_with_form(page, base, "/dashboard", ADMIN_CARD, ADMIN_PASSWORD)
        await until_tile(page, "accounts_installed", "1")
        table = page.locator("#children")
        names = table.locator("tbody th[scope=row]")
        await expect(names).to_have_text(["Quận Ba Đình", "Quận Tây Hồ"])  # who has installed first
        assert await table.locator('thead th[data-col="accounts_installed"]').get_attribute("aria-sort") == "descending"
        # Both waves are past their deadline (100% expected today, shown); Ba Đình is behind (⚠), Tây Hồ
        # has no eligible members to be behind with.
        await expect(table.locator('tbody td[data-figure="expected_pct_today"]')).to_have_text(["100,00%", "100,00%"])
        await expect(table.locator("tbody tr.late")).to_have_count(1)
        await expect(table.locator('tbody td[data-figure="installed_pct_eligible"]').first).to_contain_text("⚠")
        await expect(page.locator("#behind-note")).to_contain_text("Kế hoạch hôm nay: 100,00%")
        # The totals row: the city's own figures.
        total = table.locator("tfoot tr")
        await expect(total.locator("th")).to_have_text("Tổng cộng: Thành phố Hà Nội")
        await expect(total.locator('td[data-figure="members_total"]')).to_have_text("3")
        await expect(total.locator('td[data-figure="accounts_installed"]')).to_have_text("1")
        # Sorting by name, both ways.
        await table.locator('button[data-sort="unit_name"]').click()
        await expect(names).to_have_text(["Quận Ba Đình", "Quận Tây Hồ"])
        await table.locator('button[data-sort="unit_name"]').click()
        await expect(names).to_have_text(["Quận Tây Hồ", "Quận Ba Đình"])
        # Only units with activity.
        await page.check("#only-active")
        await expect(names).to_have_text(["Quận Ba Đình"])
        await expect(table.locator("tr.hidden-rows")).to_contain_text("1 đơn vị chưa có người cài đặt")
        await page.uncheck("#only-active")

        # Readable widths: the name column wide enough at desktop and on a phone, the names on at most two lines.
        for width, least in ((1366, 200), (390, 140)):
            await page.set_viewport_size({"width": width, "height": 900})
            box = await box_of(names.first)
            assert box["width"] >= least, (width, box)
            assert box["height"] <= 80, (width, box)
            sort_button = await box_of(table.locator('button[data-sort="accounts_installed"]'))
            assert sort_button["height"] >= 44
        await shoot(page, "city")
        await page.context.close()


async def test_the_chart_the_hints_and_the_dates(system, browser, member):
    async with real_server(system) as base:
        page = await new_page(browser)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/dashboard")
        await until_tile(page, "accounts_installed", "1")
        today = hanoi_day()
        assert DMY.match(await page.locator("#as-of").inner_text())
        assert await page.locator("#as-of").inner_text() == f"{today:%d/%m/%Y}"
        # What a figure means where it could mislead; the plan's figure for today among them.
        await expect(page.locator('#tiles [data-figure="accounts_installed"] .hint')).to_have_text(
            "gồm cả người đang chờ phê duyệt")
        await expect(page.locator('#funnel [data-step="activated"]')).to_contain_text(
            "tài khoản đã đăng nhập ít nhất một lần")
        await expect(page.locator('#tiles [data-figure="expected_pct_today"] .value')).to_have_text("100,00%")
        await expect(page.locator('#tiles [data-figure="installed_pct_eligible"]')).to_contain_text("⚠")
        # The chart: a date axis, the plan, the actual figures, today.
        chart = page.locator("#chart svg")
        ticks = await chart.locator(".axis-x text").all_text_contents()
        assert len(ticks) >= 3 and all(re.fullmatch(r"\d{2}/\d{2}(/\d{4})?", t) for t in ticks), ticks
        await expect(chart.locator("polyline.plan")).to_have_count(1)
        await expect(chart.locator("polyline.actual")).to_have_count(1)
        await expect(chart.locator("line.today")).to_have_count(1)
        await expect(chart).to_contain_text(f"Hôm nay {today:%d/%m/%Y}")
        await expect(page.locator("#legend")).to_contain_text("Kế hoạch: Làm điểm: 9 đảng bộ (22/12/2022 – 30/06/2023")
        # The summary's date too.
        await expect(page.locator("#summary")).to_contain_text(f"Đến ngày {today:%d/%m/%Y}")
        await shoot(page, "committee")
        await page.context.close()


async def test_the_live_badge_says_when_the_session_has_ended(system, browser, member):
    async with real_server(system) as base:
        page = await new_page(browser)
        await sign_in_as(page, system, base, "unit_admin", "tay-ho", "/dashboard", person="badge")
        await expect(page.locator("#live")).to_have_text("Trực tiếp", timeout=15000)
        await expect(page.locator("#live-again")).to_be_hidden()
        card = await staff_account(system, "unit_admin", "tay-ho", "badge")
        async with system.runtimes["identity"].context.engine.connect() as db:
            account = (await db.execute(text("SELECT id FROM accounts WHERE party_card_no = :c"), {"c": card})).scalar()
        system.runtimes["metrics"].context.verifier.revoke(str(account), time.time())
        await expect(page.locator("#live")).to_have_text("Phiên đăng nhập đã kết thúc, số liệu không còn cập nhật",
                                                          timeout=15000)
        await expect(page.locator("#live")).to_have_class(re.compile(r"\boff\b"))
        await expect(page.locator("#live-again")).to_be_visible()
        await shoot(page, "session-ended")
        await page.context.close()


async def test_the_live_badge_says_when_the_connection_is_lost(system, browser, member):
    page = await new_page(browser)
    async with real_server(system) as base:
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/dashboard")
        await expect(page.locator("#live")).to_have_text("Trực tiếp", timeout=15000)
    # The server is gone: the badge says the connection is lost (and that it is trying again).
    await expect(page.locator("#live")).to_have_text("Mất kết nối, đang thử lại…", timeout=15000)
    await expect(page.locator("#live")).to_have_class(re.compile(r"\boff\b"))
    await page.context.close()


async def test_the_excel_report_comes_first_named_and_titled(system, browser, member, tmp_path):
    from openpyxl import load_workbook

    async with real_server(system) as base:
        page = await new_page(browser, 390)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/dashboard")
        await until_tile(page, "accounts_installed", "1")
        buttons = page.locator(".actions button")
        await expect(buttons).to_have_text(["Tải báo cáo Excel (XLSX)", "Tải CSV"])
        assert (await box_of(buttons.first))["height"] >= 44
        async with page.expect_download() as download:
            await page.click("#xlsx")
        saved = await download.value
        assert saved.suggested_filename == f"trien-khai-ba-dinh-{hanoi_day():%d-%m-%Y}.xlsx"
        sheet = load_workbook(io.BytesIO(Path(await saved.path()).read_bytes())).active
        assert sheet["A1"].value.endswith(f"Quận Ba Đình — số liệu ngày {hanoi_day():%d/%m/%Y}")
        assert sheet["A2"].value == "Đơn vị" and sheet["A3"].value == "Đảng bộ phường Điện Biên"
        async with page.expect_download() as download:
            await page.click("#csv")
        body = Path(await (await download.value).path()).read_bytes()
        assert body.startswith(b"\xef\xbb\xbf") and body.decode("utf-8-sig").splitlines()[1].startswith("Đơn vị;")
        await page.context.close()


async def test_the_cells_meetings_planned_held_and_attended(system, browser, member):
    """Issue 20: the dashboard shows, for the unit, the cells with next month's regular meeting
    planned (and on time), this month's held, the attendance, and the cells not planned by name."""
    from datetime import datetime, timedelta

    from services.content.domain import meetings as calendar
    from sotay.kit.clock import HANOI

    next_month = calendar.next_month(hanoi_day())
    starts = datetime.combine(next_month.replace(day=9), datetime.min.time(), HANOI) + timedelta(hours=19)
    planned = await system.client.post("/api/content/v1/meetings", headers=system.auth("cell_secretary", "ba-dinh-g1-c1"),
                                       json={"cell": "ba-dinh-g1-c1", "starts_at": starts.isoformat(), "kind": "regular",
                                             "place": "Hội trường phường", "agenda": "Sinh hoạt thường kỳ"})
    assert planned.status_code == 201, planned.text
    async with system.runtimes["content"].context.engine.connect() as db:
        cells = (await db.execute(text("SELECT count(*) FROM org_units WHERE kind = 'cell' AND NOT closed "
                                       "AND path LIKE '/city/ba-dinh/%'"))).scalar_one()
    async with real_server(system) as base:
        page = await new_page(browser, 390)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/dashboard")
        card = page.locator("#meetings")
        await expect(card).to_be_visible()
        label = f"{next_month:%m/%Y}"
        await expect(card.locator('[data-figure="meetings_planned"] .value')).to_have_text(f"1/{cells}")
        await expect(card.locator('[data-figure="meetings_planned"] .label')).to_have_text(
            f"Chi bộ đã lên lịch tháng {label}")
        await expect(card.locator('[data-figure="meetings_attendance"] .value')).to_have_text("—")
        deadline = (calendar.planning_deadline(next_month) - timedelta(seconds=1)).astimezone(HANOI)
        await expect(page.locator("#meetings-note")).to_contain_text(f"{deadline:%d/%m/%Y}")
        if cells > 1:
            await expect(page.locator("#unplanned-box")).to_be_visible()
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
        await card.screenshot(path=str(SHOTS / "meetings-390.png"))
        await page.context.close()
