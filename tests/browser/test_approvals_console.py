"""The approval console as its approvers use it (issue 18, "Approvers"): a bulk approval says
why each refused row was refused; "select all matched"; filters by match result, cell and age;
the registrant's details beside the record's, and a confirmation before approving a mismatch;
a duplicate registration labelled as such (not "already has an account"); each decision
confirmed by a toast and the row's new state; at 390 px every registration a card with its
buttons on screen; the header's dashboard link opens the approver's own unit."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from tests.browser.conftest import MEMBERS, sign_in_as
from tests.support.system import CONSENT, identity_holds_registry, import_registry, real_server, registry_row

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots/approvals")
PASSWORD = "Mat khau dai du manh"
BORN = "1960-05-01"
# Members of the registry beyond conftest's three: cards 0200000NN, in cell 1 or cell 2 of ba-dinh.
PEOPLE = {n: (f"02000{n:04d}", name, "ba-dinh-g1-c1" if n < 50 else "ba-dinh-g1-c2") for n, name in (
    (1, "Phạm Văn Dũng"), (2, "Hoàng Thị Em"), (3, "Vũ Văn Giang"), (4, "Đỗ Thị Hoa"), (5, "Bùi Văn Khánh"),
    (6, "Ngô Thị Lan"), (7, "Đặng Văn Minh"), (8, "Dương Thị Nga"), (9, "Lý Văn Phúc"),
    (51, "Trịnh Văn Quang"), (52, "Mai Thị Rạng"))}


@pytest.fixture(scope="module")
async def world(system):
    """A second cell under the same ward, and the members above in the registry."""
    c, admin = system.client, system.auth("city_admin")
    made = await c.post("/api/members/v1/org-units", json={"code": "ba-dinh-g1-c2", "name": "Chi bộ số 2",
                                                           "kind": "cell", "parent": "ba-dinh-g1"}, headers=admin)
    assert made.status_code == 201, made.text
    rows = [registry_row(card, name, unit, born=BORN) for card, name, unit in PEOPLE.values()]
    await import_registry(c, rows, admin)
    await identity_holds_registry(system, len(MEMBERS) + len(rows))
    return system


async def register(system, n: int, *, born: str = BORN, phone: str | None = None) -> str:
    card, name, _ = PEOPLE[n]
    answer = await system.client.post("/api/identity/v1/registrations", json={
        "party_card_no": card, "full_name": name, "date_of_birth": born, "phone": phone or f"09{card[-8:]}",
        "password": PASSWORD, "platform": "mobile", "consent": CONSENT})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


async def page_at(browser, width: int):
    return await (await browser.new_context(viewport={"width": width, "height": 900}, locale="vi-VN")).new_page()


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    await page.screenshot(path=str(SHOTS / f"{name}-screen.png"))


def row_of(page, n: int):
    return page.locator(f'#registrations tr[data-card="{PEOPLE[n][0]}"]')


async def test_bulk_approval_says_why_each_refused_row_was_refused(world, browser):
    await register(world, 1)                       # matched
    await register(world, 2, born="1961-05-01")     # details differ
    await register(world, 51)                      # matched, in cell 2
    async with real_server(world) as base:
        page = await page_at(browser, 1366)
        await sign_in_as(page, world, base, "unit_admin", "ba-dinh", "/console/approvals")
        await row_of(page, 51).wait_for()
        await page.click("#select-matched")
        assert await row_of(page, 1).locator("input.pick").is_checked()
        assert await row_of(page, 51).locator("input.pick").is_checked()
        assert not await row_of(page, 2).locator("input.pick").is_checked()
        await row_of(page, 2).locator("input.pick").check()  # one that bulk approval refuses
        await page.click("#approve-selected")
        await expect(page.locator("#done")).to_have_text("Đã phê duyệt: 2; 1 không phê duyệt được")
        refused = page.locator('#refused li[data-code="not_matched"]')
        await expect(refused).to_contain_text(PEOPLE[2][1])
        await expect(refused).to_contain_text("Thông tin không khớp hồ sơ")
        # The rows stay, showing their new state; the toast says it too.
        await expect(row_of(page, 1)).to_have_attribute("data-state", "approved")
        await expect(row_of(page, 1).locator("td.state")).to_contain_text("Đã phê duyệt")
        await expect(row_of(page, 2)).to_have_attribute("data-state", "refused")
        await expect(row_of(page, 2).locator("td.state")).to_contain_text("phê duyệt riêng từng đăng ký")
        await expect(page.locator("#toast[role=status]")).to_contain_text("Đã phê duyệt: 2")
        await shot(page, "bulk-refused-1366")
        await page.set_viewport_size({"width": 390, "height": 900})
        await page.locator("#refused").scroll_into_view_if_needed()
        await page.screenshot(path=str(SHOTS / "bulk-refused-390-screen.png"))
        await page.context.close()


async def test_filters_by_match_result_cell_and_age(world, browser):
    old = await register(world, 52)
    await register(world, 3)
    await register(world, 4, born="1962-01-01")
    async with world.runtimes["identity"].context.engine.begin() as db:
        await db.execute(text("UPDATE registrations SET submitted_at = now() - interval '10 days' WHERE id = :id"),
                         {"id": old})
    async with real_server(world) as base:
        page = await page_at(browser, 1366)
        await sign_in_as(page, world, base, "unit_admin", "ba-dinh", "/console/approvals")
        await row_of(page, 52).wait_for()
        # The cell filter offers the cells by name.
        await expect(page.locator('#f-unit option[value="ba-dinh-g1-c2"]')).to_have_text("Chi bộ số 2")
        await page.select_option("#f-unit", "ba-dinh-g1-c2")
        await expect(row_of(page, 3)).to_have_count(0)
        await expect(row_of(page, 52)).to_have_count(1)
        await expect(row_of(page, 52).locator("td[data-label='Chi bộ']")).to_have_text("Chi bộ số 2")
        await page.select_option("#f-unit", "")
        await page.select_option("#f-match", "details_differ")
        await expect(row_of(page, 4)).to_have_count(1)
        await expect(row_of(page, 3)).to_have_count(0)
        await page.select_option("#f-match", "")
        await page.select_option("#f-age", "week")
        await expect(row_of(page, 52)).to_have_count(1)
        await expect(row_of(page, 3)).to_have_count(0)
        await expect(row_of(page, 52).locator("td[data-label='Ngày đăng ký']")).to_contain_text("Quá hạn")
        await page.select_option("#f-age", "recent")
        await expect(row_of(page, 3)).to_have_count(1)
        await expect(row_of(page, 52)).to_have_count(0)
        await shot(page, "filters-1366")
        await page.context.close()


async def test_a_duplicate_registration_is_not_said_to_have_an_account(world, browser):
    first = await register(world, 5)
    second = await register(world, 5)  # the same member again, before the first is decided
    async with real_server(world) as base:
        page = await page_at(browser, 1366)
        await sign_in_as(page, world, base, "cell_secretary", "ba-dinh-g1-c1", "/console/approvals")
        duplicate = page.locator(f'#registrations tr[data-card="{PEOPLE[5][0]}"][data-match="duplicate"]')
        await expect(duplicate.locator(".match .label")).to_have_text("Đăng ký trùng: thẻ này đã có một đăng ký khác")
        assert "Đã có tài khoản" not in await duplicate.inner_text()
        # Once the first is approved the card does have an account, and the label says so.
        await page.locator(f'#registrations tr[data-id="{first}"] button.approve').click()
        await expect(page.locator(f'#registrations tr[data-id="{first}"]')).to_have_attribute("data-state", "approved")
        await page.click("#reload")
        await expect(page.locator(f'#registrations tr[data-id="{second}"] .match .label')).to_have_text(
            "Đã có tài khoản")
        await expect(page.locator(f'#registrations tr[data-id="{first}"]')).to_have_count(0)
        await page.context.close()


async def test_given_details_beside_the_record_and_a_mismatch_asks_before_approval(world, browser):
    await register(world, 6, born="1959-02-03", phone="0987654306")
    async with real_server(world) as base:
        page = await page_at(browser, 1366)
        await sign_in_as(page, world, base, "cell_secretary", "ba-dinh-g1-c1", "/console/approvals")
        row = row_of(page, 6)
        born = row.locator('table.comparison tr[data-field="date_of_birth"]')
        await expect(born).to_contain_text("03/02/1959")
        await expect(born).to_contain_text("Không khớp")  # the record's own date is not shown: a keyed hash
        phone = await row.locator('table.comparison tr[data-field="phone"]').inner_text()
        assert "*******306" in phone and "0987654306" not in phone
        requests = []
        page.on("request", lambda r: requests.append(r.url) if r.url.endswith("/approve") else None)
        await row.locator("button.approve").click()
        await expect(row.locator(".confirm-mismatch")).to_be_visible()
        await expect(row.locator(".confirm-mismatch")).to_contain_text("không khớp hồ sơ")
        assert requests == [] and await row.get_attribute("data-state") == "pending"
        await shot(page, "mismatch-confirm-1366")
        await row.locator("button.approve-anyway").click()
        await expect(row).to_have_attribute("data-state", "approved")
        await expect(page.locator("#toast[role=status]")).to_contain_text(f"Đã phê duyệt đăng ký của {PEOPLE[6][1]}")
        await page.context.close()


async def test_a_rejection_shows_in_its_row_and_a_toast(world, browser):
    await register(world, 7)
    async with real_server(world) as base:
        page = await page_at(browser, 1366)
        await sign_in_as(page, world, base, "cell_secretary", "ba-dinh-g1-c1", "/console/approvals")
        row = row_of(page, 7)
        await row.get_by_role("button", name="Từ chối", exact=True).click()
        await row.locator("form.reject input").fill("Sai số thẻ, đề nghị đăng ký lại")
        await row.locator("form.reject button[type=submit]").click()
        await expect(row).to_have_attribute("data-state", "rejected")
        await expect(row.locator("td.state")).to_contain_text("Đã từ chối")
        await expect(row.locator("td.state")).to_contain_text("Sai số thẻ, đề nghị đăng ký lại")
        await expect(page.locator("#toast[role=status]")).to_contain_text(f"Đã từ chối đăng ký của {PEOPLE[7][1]}")
        await page.context.close()


async def test_at_phone_width_each_registration_is_a_card_with_its_buttons_on_screen(world, browser):
    await register(world, 8)
    await register(world, 9, born="1950-01-01")
    async with real_server(world) as base:
        page = await page_at(browser, 390)
        await sign_in_as(page, world, base, "cell_secretary", "ba-dinh-g1-c1", "/console/approvals")
        for n in (8, 9):
            row = row_of(page, n)
            await row.wait_for()
            for button in (row.locator("button.approve"), row.get_by_role("button", name="Từ chối", exact=True)):
                box = await button.bounding_box()
                assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
                assert box["height"] >= 44, box
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await shot(page, "cards-390")
        await row_of(page, 9).locator("button.approve").click()
        await expect(row_of(page, 9).locator(".confirm-mismatch")).to_be_visible()
        box = await row_of(page, 9).locator("button.approve-anyway").bounding_box()
        assert box and box["x"] + box["width"] <= 390, box
        await shot(page, "mismatch-confirm-390")
        await row_of(page, 9).screenshot(path=str(SHOTS / "card-mismatch-390.png"))
        await page.context.close()


async def test_the_dashboard_link_opens_the_approver_s_own_unit(world, browser):
    async with real_server(world) as base:
        page = await page_at(browser, 1366)
        await sign_in_as(page, world, base, "cell_secretary", "ba-dinh-g1-c1", "/console/approvals")
        await expect(page.locator("#dashboard-link")).to_have_attribute("href", "/dashboard?unit=ba-dinh-g1-c1")
        await page.context.close()


async def test_a_registration_waiting_past_the_term_comes_first_saying_where_it_went(world, browser):
    """Issue 20: a registration waiting past the approval term escalates to the unit above; its
    approvers see it first, with a line saying so in words: the unit by name, the day dd/mm/yyyy."""
    from services.identity.handlers import escalation
    from sotay.kit.clock import hanoi_day

    late = await register(world, 9)
    await register(world, 8)
    async with world.runtimes["identity"].context.engine.begin() as db:
        await db.execute(text("UPDATE registrations SET submitted_at = now() - interval '12 days' WHERE id = :i"),
                         {"i": late})
    assert await escalation.escalate(world.runtimes["identity"].context, days=7) >= 1
    async with real_server(world) as base:
        page = await page_at(browser, 390)
        await sign_in_as(page, world, base, "unit_admin", "ba-dinh-g1", "/console/approvals")
        first = page.locator("#registrations tbody tr").first
        await expect(first).to_have_attribute("data-card", PEOPLE[9][0])
        await expect(first.locator("p.escalated")).to_have_text(
            f"Chờ quá hạn, đã chuyển lên Đảng bộ phường Điện Biên ngày {hanoi_day():%d/%m/%Y}")
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
        await shot(page, "escalated-first")
        await page.context.close()
