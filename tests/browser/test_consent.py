"""The privacy notice and consent in the handbook (issue 19), on a phone (390 px) in Vietnamese:
the sign-up shows the notice and a box per purpose, none ticked, the required one marked; a
sign-up without the required one is refused with the reason in Vietnamese by its box; the member's
page shows the notice and their consents, and an optional purpose is withdrawn and given again,
and withdrawing the required one says first what it means (a request to close the account); the
staff's console shows, unit by unit and by name, who agreed to which version, within their units only."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from tests.browser.conftest import sign_in_as
from tests.browser.test_handbook import (
    PASSWORD,
    member_account,
    no_english,
    phone_page,
    registrations_of,
    shot,
    sign_in,
    small_targets,
)
from tests.support.system import identity_holds_registry, import_registry, real_server, registry_row

pytestmark = pytest.mark.integration


async def ledger(system, card: str) -> list[tuple[str, str, str, str]]:
    """The card's consents as identity recorded them: (action, purpose, method, client), oldest first."""
    async with system.runtimes["identity"].context.engine.connect() as db:
        rows = await db.execute(text(
            "SELECT c.action, c.purpose, c.method, c.client FROM consents c JOIN registrations g "
            "ON g.id = c.registration_id WHERE g.party_card_no = :c ORDER BY c.at, c.purpose"), {"c": card})
        return [tuple(r) for r in rows]


async def test_the_sign_up_ticks_nothing_and_refuses_without_the_required_purpose_by_its_box(system, browser):
    card = "010000003"
    async with real_server(system) as base:
        page = await phone_page(browser)
        await page.goto(f"{base}/")
        boxes = page.locator("#su-purposes input[type=checkbox]")
        await expect(boxes).to_have_count(2)
        assert [await b.is_checked() for b in await boxes.all()] == [False, False]  # never ticked beforehand
        await expect(page.locator("label.check").filter(has=page.locator("#su-purpose-account"))) \
            .to_contain_text("(bắt buộc)")
        await expect(page.locator("label.check").filter(has=page.locator("#su-purpose-push"))) \
            .to_contain_text("nước ngoài")
        await expect(page.locator("#su-notice-text")).to_be_hidden()  # folded until asked for
        await page.click("#su-notice summary")
        await expect(page.locator("#su-notice-text")).to_contain_text("Luật Bảo vệ dữ liệu cá nhân số 91/2025/QH15")
        await expect(page.locator("#su-notice-text h4").first).to_be_visible()
        assert await small_targets(page) == []

        await page.fill("#su-card", card)
        await page.fill("#su-name", "Lê Văn Cường")
        await page.fill("#su-born", "01/05/1960")
        await page.fill("#su-phone", "0910000003")
        await page.fill("#su-password", PASSWORD)
        await page.check("#su-purpose-push")  # the optional one only
        await page.click("#signup-form button[type=submit]")
        await expect(page.locator("#su-purpose-account-error")).to_contain_text(
            "cần đánh dấu đồng ý mục bắt buộc này thì mới lập được tài khoản")
        await expect(page.locator("#signup-error")).to_contain_text("Sự đồng ý:")
        assert await page.get_attribute("#su-purpose-account", "aria-invalid") == "true"
        await no_english(page)
        await shot(page, "sign-up-consent-refused")
        assert await registrations_of(system, card) == 0

        # English and back: the words change, what was ticked stays ticked.
        await page.select_option("#lang", "en")
        await expect(page.locator("#su-consent legend")).to_have_text("Consent to the processing of your personal data")
        await expect(page.locator("#su-notice-text")).to_contain_text("Your rights")
        assert await page.is_checked("#su-purpose-push") and not await page.is_checked("#su-purpose-account")
        await page.select_option("#lang", "vi")
        await expect(page.locator("#su-consent legend")).to_have_text("Đồng ý cho xử lý dữ liệu cá nhân")

        await page.check("#su-purpose-account")
        await expect(page.locator("#su-purpose-account-error")).to_have_count(0)
        await page.click("#signup-form button[type=submit]")
        await expect(page.locator("#signup-done")).to_contain_text("chờ chi bộ phê duyệt")
        assert [await b.is_checked() for b in await boxes.all()] == [False, False]  # the form is cleared
        recorded = await ledger(system, card)
        assert [(a, p, m) for a, p, m, _ in recorded] == [("given", "account", "web"), ("given", "push", "web")]
        assert all(re.fullmatch(r"Chrome \d+, Linux", client) for *_, client in recorded), recorded
        await page.context.close()


async def test_the_members_page_shows_their_consents_and_a_withdrawal_and_a_new_consent_work(system, browser):
    card = "010000002"
    await member_account(system, card, "Trần Thị Bình")
    async with real_server(system) as base:
        page = await phone_page(browser)
        await sign_in(page, base, card, path="/#profile")
        consents = page.locator("#consents")
        await expect(consents.locator("h2")).to_have_text("Dữ liệu cá nhân và sự đồng ý")
        await expect(page.locator("#consent-standing")).to_contain_text(
            "Đồng chí đã đồng ý với Thông báo về xử lý dữ liệu cá nhân phiên bản 1 ngày")
        push = consents.locator('li[data-code="push"]')
        await expect(push).to_contain_text("Chưa đồng ý")
        await expect(consents.locator(".consent-history li")).to_have_count(1)
        await expect(consents.locator(".consent-history li")).to_contain_text("Đồng ý: Tài khoản và Sổ tay")
        await consents.locator("details.privacy summary").click()
        await expect(consents.locator(".notice-text")).to_contain_text("Quyền của đồng chí")
        assert await small_targets(page) == []

        await page.click("#give-push")
        await expect(page.locator("#consent-done")).to_contain_text("Đã ghi nhận sự đồng ý của đồng chí")
        await expect(push).to_have_attribute("data-given", "true")
        await expect(push).to_contain_text("Đã đồng ý ngày")
        await page.click("#withdraw-push")
        await expect(page.locator("#consent-done")).to_contain_text("không gửi thông báo đẩy")
        await expect(push).to_have_attribute("data-given", "false")
        await expect(push).to_contain_text("Đã rút lại ngày")
        await expect(consents.locator(".consent-history li").first).to_contain_text("Rút lại: Thông báo đẩy")

        # The required purpose: what withdrawing it means is said first; cancelled, nothing happens.
        await page.click("#withdraw-account")
        await expect(consents.locator(".warn")).to_contain_text("đề nghị đóng tài khoản Sổ tay")
        await consents.locator(".warn button.secondary").click()
        await expect(consents.locator(".warn")).to_be_hidden()
        await page.click("#withdraw-account")
        await page.click("#withdraw-account-confirm")
        await expect(page.locator("#consent-done")).to_contain_text("Chi bộ sẽ liên hệ với đồng chí")
        await expect(page.locator("#consent-standing")).to_contain_text("đề nghị đóng tài khoản Sổ tay")
        await expect(page.locator("#give-account")).to_be_visible()  # changing one's mind
        await expect(consents.locator(".consent-history li")).to_have_count(4)
        await no_english(page)
        await shot(page, "profile-consents")
        assert [(a, p, m) for a, p, m, _ in await ledger(system, card)] == [
            ("given", "account", "web"), ("given", "push", "web"), ("withdrawn", "push", "web"),
            ("withdrawn", "account", "web")]
        await page.context.close()


async def test_the_console_shows_per_unit_who_agreed_to_which_version_in_vietnamese(system, browser):
    await member_account(system, "010000001", "Nguyễn Văn An")
    today = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")
    async with real_server(system) as base:
        page = await phone_page(browser)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/consents")
        await expect(page.locator("#unit-title")).to_have_text("Quận Ba Đình")
        await expect(page.locator("#version")).to_have_text("Thông báo hiện hành: phiên bản 1.")
        grassroots = page.locator('#units li[data-unit="ba-dinh-g1"]')
        await expect(grassroots).to_contain_text("Đảng bộ phường Điện Biên")
        await grassroots.locator("button").click()
        await expect(page.locator("#unit-title")).to_have_text("Đảng bộ phường Điện Biên")
        await expect(page.locator('#units li[data-unit="ba-dinh-g1-c1"]')).to_contain_text("Chi bộ số 1")
        an = page.locator("#members li").filter(has_text="Nguyễn Văn An")
        await expect(an).to_contain_text("Chi bộ số 1")
        await expect(an).to_contain_text(f"Đồng ý bản 1 ngày {today}, trên máy tính")
        await expect(an).to_contain_text("Mục tùy chọn đã đồng ý: không")
        said = await page.locator("main").inner_text()
        assert not [raw for raw in ("ba-dinh", "account", "push", "web") if raw in said], said
        assert await small_targets(page) == []
        await no_english(page)
        await shot(page, "console-consents")
        await page.click("#up")
        await expect(page.locator("#unit-title")).to_have_text("Quận Ba Đình")

        other = await phone_page(browser)
        await sign_in_as(other, system, base, "unit_admin", "tay-ho", "/console/consents")
        await expect(other.locator("#unit-title")).to_have_text("Quận Tây Hồ")
        await expect(other.locator("#none")).to_be_visible()
        assert "Nguyễn Văn An" not in await other.locator("main").inner_text()
        for p in (page, other):
            await p.context.close()


async def test_a_member_registered_without_a_consent_is_asked_for_it_until_they_give_it(system, browser):
    """Registered with DESIGN.md's body (no consent: another client's), approved, signed in: every page
    says the notice waits for their agreement, until they give it on their page."""
    card = "010000004"
    await import_registry(system.client, [registry_row(card, "Phạm Văn Dũng", "ba-dinh-g1-c1", born="1960-05-01")],
                          system.auth("city_admin"))
    await identity_holds_registry(system, 4)  # conftest's three, and this one
    answer = await system.client.post("/api/identity/v1/registrations", json={
        "party_card_no": card, "full_name": "Phạm Văn Dũng", "date_of_birth": "1960-05-01", "phone": "0910000004",
        "password": PASSWORD, "platform": "mobile"})
    assert answer.status_code == 202, answer.text
    approved = await system.client.post(f"/api/identity/v1/registrations/{answer.json()['id']}/approve",
                                        headers=system.auth("unit_admin", "ba-dinh"))
    assert approved.status_code == 200, approved.text
    async with real_server(system) as base:
        page = await phone_page(browser)
        await sign_in(page, base, card)
        await expect(page.locator("#consent-needed")).to_contain_text(
            "Đồng chí chưa đồng ý với thông báo về dữ liệu cá nhân")
        await no_english(page)
        await page.locator("#consent-needed a").click()
        await page.click("#give-account")
        await expect(page.locator("#consent-done")).to_contain_text("Đã ghi nhận sự đồng ý của đồng chí")
        await expect(page.locator("#consent-needed")).to_be_hidden()
        await page.reload()
        await expect(page.locator("#view section h2").first).to_be_visible()
        await expect(page.locator("#consent-needed")).to_be_hidden()
        assert [(a, p) for a, p, _, _ in await ledger(system, card)] == [("given", "account")]
        await page.context.close()
