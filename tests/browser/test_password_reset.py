"""Quên mật khẩu for members without e-mail (issue 18), in a real browser at phone (390 px)
and desktop (1366 px) widths: the cell secretary finds the member by card number in the
resets console and issues a code, shown large with its expiry (HH:mm dd/mm/yyyy, Hanoi time);
the member, on /reset, types card, code and the new password twice, is told in Vietnamese
next to the field what is wrong (a wrong or expired code, two passwords that differ, a weak
password), then signs in with the new password while the old one no longer works."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from tests.browser.conftest import sign_in_as
from tests.support.system import CONSENT, real_server

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots/reset")
OLD, NEW = "Mat khau dai du manh", "Hoa sen no giua dam"
# conftest's registry: three members of ba-dinh's "Chi bộ số 1"; their phones are 09 + the card's last 8 digits.
PEOPLE = {390: ("010000001", "Nguyễn Văn An"), 1366: ("010000002", "Trần Thị Bình")}
EXPIRED = ("010000003", "Lê Văn Cường")
REFUSED_VI = "Mã không đúng, đã hết hạn hoặc đã được dùng"


async def approved_member(system, card: str, name: str) -> str:
    c = system.client
    registered = await c.post("/api/identity/v1/registrations", json={
        "party_card_no": card, "full_name": name, "date_of_birth": "1960-05-01", "phone": f"09{card[-8:]}",
        "password": OLD, "platform": "mobile", "consent": CONSENT})
    assert registered.status_code == 202, registered.text
    decided = await c.post(f"/api/identity/v1/registrations/{registered.json()['id']}/approve",
                           headers=system.auth("unit_admin", "ba-dinh"))
    assert decided.status_code == 200, decided.text
    return decided.json()["account_id"]


async def token_answer(page, base: str, card: str, password: str) -> int:
    answer = await page.request.post(f"{base}/api/identity/v1/token", form={
        "grant_type": "password", "username": card, "password": password})
    return answer.status


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def test_a_secretary_issues_a_code_and_the_member_resets_and_signs_in(system, browser):
    for card, name in PEOPLE.values():
        await approved_member(system, card, name)
    async with real_server(system) as base:
        for width, (card, name) in PEOPLE.items():
            size = {"width": width, "height": 900}
            staff = await (await browser.new_context(viewport=size, locale="vi-VN")).new_page()
            await sign_in_as(staff, system, base, "cell_secretary", "ba-dinh-g1-c1", "/console/resets")
            await staff.fill("#find-card", card)
            await staff.click("#find")
            await expect(staff.locator("#m-name")).to_have_text(name)
            await expect(staff.locator("#m-unit")).to_have_text("Chi bộ số 1")
            await shot(staff, f"console-resets-found-{width}")
            await staff.click("#issue-code")
            code_box = staff.locator("#code")
            await expect(code_box).to_have_text(re.compile(r"^\d{4} \d{4}$"))
            code = (await code_box.inner_text()).replace(" ", "")
            assert re.fullmatch(r"\d{2}:\d{2} \d{2}/\d{2}/\d{4}", await staff.locator("#expires").inner_text())
            assert "điện thoại" in await staff.locator("#handover").inner_text()
            box = await code_box.bounding_box()
            assert box["width"] <= width and box["height"] >= 40  # large, and on screen
            assert await staff.evaluate("document.documentElement.scrollWidth") <= width
            await shot(staff, f"console-resets-{width}")
            await staff.context.close()

            member = await (await browser.new_context(viewport=size, locale="vi-VN")).new_page()
            await member.goto(f"{base}/reset.html")
            await expect(member.locator("h1")).to_have_text("Đặt lại mật khẩu")
            assert await member.evaluate("document.documentElement.scrollWidth") <= width
            for target in ("#username", "#code", "#new-password", "#new-password-again", "#submit"):
                assert (await member.locator(target).bounding_box())["height"] >= 44
            await member.fill("#username", card)
            await member.fill("#code", f"{(int(code) + 1) % 10**8:08d}")  # a wrong code
            await member.fill("#new-password", NEW)
            await member.fill("#new-password-again", NEW + "x")
            await member.click("#submit")
            await expect(member.locator("#new-password-again-error")).to_have_text("Hai mật khẩu không giống nhau.")
            await member.fill("#new-password-again", NEW)
            await expect(member.locator("#new-password-again-error")).to_have_text("")  # gone once fixed
            await member.click("#submit")
            await expect(member.locator("#code-error")).to_contain_text(REFUSED_VI)
            await shot(member, f"reset-wrong-code-{width}")
            await member.fill("#code", f"{code[:4]} {code[4:]}")
            await expect(member.locator("#code-error")).to_have_text("")
            await member.fill("#new-password", "matkhau123")
            await member.fill("#new-password-again", "matkhau123")
            await member.click("#submit")
            await expect(member.locator("#new-password-error")).to_contain_text("quá dễ đoán")
            await member.fill("#new-password", NEW)
            await member.fill("#new-password-again", NEW)
            await member.click("#submit")
            await expect(member.locator("#done")).to_be_visible()
            await expect(member.locator("#done h2")).to_have_text("Đã đặt mật khẩu mới")
            await shot(member, f"reset-done-{width}")

            # The old password fails; the new one signs in on the handbook's own form.
            assert await token_answer(member, base, card, OLD) == 400
            await member.click("#to-signin")
            await member.wait_for_url(f"{base}/")
            await member.fill("#card", card)
            await member.fill("#password", NEW)
            await member.locator("#signin-form button[type=submit]").click()
            await member.wait_for_selector("#signin", state="hidden")
            await member.context.close()


async def test_an_expired_code_is_refused_in_vietnamese_and_english_on_the_switch(system, browser):
    card, name = EXPIRED
    account = await approved_member(system, card, name)
    issued = await system.client.post(f"/api/identity/v1/accounts/{account}/password-reset-codes",
                                      headers=system.auth("unit_admin", "ba-dinh"))
    assert issued.status_code == 201, issued.text
    code = issued.json()["code"]
    async with system.runtimes["identity"].context.engine.begin() as db:
        await db.execute(text("UPDATE password_reset_codes SET expires_at = now() - interval '1 minute' "
                              "WHERE account_id = :a"), {"a": account})
    async with real_server(system) as base:
        for width in (390, 1366):
            page = await (await browser.new_context(viewport={"width": width, "height": 900},
                                                    locale="vi-VN")).new_page()
            await page.goto(f"{base}/reset")
            await page.fill("#username", f"09{card[-8:]}")  # the phone, as the member may sign in with it
            await page.fill("#code", code)
            await page.fill("#new-password", NEW)
            await page.fill("#new-password-again", NEW)
            await page.click("#submit")
            await expect(page.locator("#code-error")).to_contain_text(REFUSED_VI)
            assert "code" not in (await page.locator("main").inner_text()).lower()  # no English reached the page
            await shot(page, f"reset-expired-{width}")
            # The switch to English keeps what was typed, and says it in English.
            await page.select_option("#lang", "en")
            await expect(page.locator("h1")).to_have_text("Reset your password")
            assert await page.input_value("#code") == code
            await page.select_option("#lang", "vi")
            await page.context.close()
    assert await token_answer_api(system, card, OLD) == 200  # nothing changed


async def token_answer_api(system, card: str, password: str) -> int:
    answer = await system.client.post("/api/identity/v1/token", data={
        "grant_type": "password", "username": card, "password": password})
    return answer.status_code
