"""The member's handbook as elderly members use it, on a phone (390 px) in Vietnamese (issue 18):
a waiting registration is told where it stands, no English reaches the page, a form is sent once
however often it is tapped, the menu waits for sign-in, the record reads as people write it,
errors sit next to their fields, a correction's fate is shown, feedback awaiting moderation says
so, switching language keeps what was typed, an ended session keeps it too, targets are 44 px."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from services.identity.adapters import store as identity_store
from tests.browser.conftest import publish_article
from tests.support.system import CONSENT, real_server

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots/member")
PASSWORD = "Mat khau de nho cua toi"
REGISTRATIONS = "/api/identity/v1/registrations"
# What a server problem or the browser says in English; none of it may reach a Vietnamese page.
ENGLISH = ("not right", "Not found", "Sign-in refused", "ry again", "No registration", "must ", "is required",
           "Unauthorized", "Failed to fetch", "signed out", "Invalid input", "Forbidden", "String should", "bearer")
PHONE = {"width": 390, "height": 844}


async def phone_page(browser, **kw):
    context = await browser.new_context(viewport=PHONE, locale="vi-VN", **kw)
    return await context.new_page()


async def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("phone", PHONE), ("desktop", {"width": 1366, "height": 900})):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size(PHONE)


async def no_english(page) -> None:
    said = await page.locator("body").inner_text()
    assert not [w for w in ENGLISH if w in said], said


async def small_targets(page) -> list[str]:
    """What a finger presses that is under 44 px either way (the article's own links aside)."""
    return await page.evaluate("""() => [...document.querySelectorAll("a, button, input, select, textarea")]
      .filter((e) => !e.closest(".article-body") && !e.classList.contains("skip"))
      .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && (r.width < 44 || r.height < 44); })
      .map((e) => e.outerHTML.slice(0, 90))""")


async def register(system, card: str, name: str, phone: str, password: str = PASSWORD) -> dict:
    answer = await system.client.post(REGISTRATIONS, json={
        "party_card_no": card, "full_name": name, "date_of_birth": "1960-05-01", "phone": phone,
        "password": password, "platform": "web", "consent": CONSENT})
    assert answer.status_code == 202, answer.text
    return answer.json()


async def member_account(system, card: str, name: str) -> None:
    """An approved account for a member of the registry's cell (conftest's MEMBERS)."""
    async with system.runtimes["identity"].context.engine.connect() as db:
        if await identity_store.card_has_account(db, card):
            return
    reg = await register(system, card, name, f"09{card[-8:]}")
    approved = await system.client.post(f"{REGISTRATIONS}/{reg['id']}/approve",
                                        headers=system.auth("unit_admin", "ba-dinh"))
    assert approved.status_code == 200, approved.text


async def registrations_of(system, card: str) -> int:
    async with system.runtimes["identity"].context.engine.connect() as db:
        return (await db.execute(text("SELECT count(*) FROM registrations WHERE party_card_no = :c"),
                                 {"c": card})).scalar()


async def sign_in(page, base: str, card: str, password: str = PASSWORD, path: str = "/") -> None:
    await page.goto(f"{base}{path}")
    await page.fill("#card", card)
    await page.fill("#password", password)
    await page.click("#signin-form button[type=submit]")


async def test_a_waiting_or_rejected_registration_is_told_where_it_stands_in_vietnamese(system, browser):
    card = "010000003"
    reg = await register(system, card, "Lê Văn Cường", "0910000003")
    async with real_server(system) as base:
        page = await phone_page(browser)
        await sign_in(page, base, card)
        await expect(page.locator("#signin-note")).to_contain_text("đang chờ chi bộ phê duyệt")
        await no_english(page)
        await shot(page, "signin-waiting")

        await page.fill("#password", "Khong phai mat khau nay")
        await page.click("#signin-form button[type=submit]")
        await expect(page.locator("#signin-error")).to_contain_text("mật khẩu không đúng")
        await expect(page.locator("#signin-note")).to_be_empty()
        await no_english(page)

        rejected = await system.client.post(f"{REGISTRATIONS}/{reg['id']}/reject", json={
            "reason": "Số điện thoại khác với hồ sơ của chi bộ"}, headers=system.auth("unit_admin", "ba-dinh"))
        assert rejected.status_code == 200, rejected.text
        await page.fill("#password", PASSWORD)
        await page.click("#signin-form button[type=submit]")
        await expect(page.locator("#signin-note")).to_contain_text("Số điện thoại khác với hồ sơ của chi bộ")
        await expect(page.locator("#signin-note")).to_contain_text("chưa được chấp thuận")
        await no_english(page)

        # Too many tries: said in Vietnamese, with how long to wait.
        for _ in range(12):
            await system.client.post("/api/identity/v1/token", data={
                "grant_type": "password", "username": "019999998", "password": "doan mo mat khau"})
        await page.fill("#card", "019999998")
        await page.click("#signin-form button[type=submit]")
        await expect(page.locator("#signin-error")).to_contain_text("thử quá nhiều lần")
        await no_english(page)
        await page.context.close()


async def test_a_double_tap_or_a_lost_answer_sends_one_registration(system, browser):
    async with real_server(system) as base:
        page = await phone_page(browser)
        await page.goto(f"{base}/")
        keys: list[str] = []
        lost = {"first": True}

        async def lose_the_first_answer(route):
            keys.append(route.request.headers.get("idempotency-key"))
            if lost["first"]:
                lost["first"] = False
                await route.fetch()  # the server registers it; the phone never hears back
                await route.abort()
            else:
                await route.continue_()
        await page.route(f"**{REGISTRATIONS}", lose_the_first_answer)

        async def fill(card: str) -> None:
            await page.fill("#su-card", card)
            await page.fill("#su-name", "Đỗ Thị Mai")
            await page.fill("#su-born", "01/05/1960")
            await page.fill("#su-phone", "0911 222 333")
            await page.fill("#su-password", PASSWORD)
            await page.check("#su-purpose-account")

        await fill("010000077")
        await page.click("#signup-form button[type=submit]")
        await expect(page.locator("#signup-error")).to_contain_text("Chưa kết nối được tới máy chủ")
        await no_english(page)
        assert await page.input_value("#su-card") == "010000077"  # what was typed is kept for the retry
        await page.click("#signup-form button[type=submit]")
        await expect(page.locator("#signup-done")).to_contain_text("chờ chi bộ phê duyệt")
        assert len(keys) == 2 and keys[0] and keys[0] == keys[1]  # one submission, one key
        assert await registrations_of(system, "010000077") == 1

        # A double tap: the button is disabled while the form is sent.
        await fill("010000078")
        await page.dblclick("#signup-form button[type=submit]")
        await expect(page.locator("#signup-done")).to_contain_text("chờ chi bộ phê duyệt")
        assert await registrations_of(system, "010000078") == 1
        assert len(keys) == 3
        await page.context.close()


async def test_before_sign_in_no_menu_errors_by_their_fields_and_a_language_switch_keeps_the_typing(system, browser):
    async with real_server(system) as base:
        page = await phone_page(browser)
        await page.goto(f"{base}/")
        await expect(page.locator("#signin")).to_be_visible()
        await expect(page.locator("#nav")).to_be_hidden()
        await expect(page.locator("#signout")).to_be_hidden()
        focused = []
        for _ in range(6):  # tabbing from the top reaches the sign-in form, never a menu
            await page.keyboard.press("Tab")
            focused.append(await page.evaluate("() => document.activeElement.id || document.activeElement.className"))
            if focused[-1] == "card":
                break
        assert focused[-1] == "card" and not {"signout", "nav"} & set(focused), focused
        assert await page.get_attribute("#forgot", "href") == "/reset.html"
        assert await small_targets(page) == []
        icon = await page.request.get(f"{base}/favicon.ico")
        assert icon.ok and icon.headers["content-type"] == "image/x-icon" and (await icon.body())[:4] == b"\0\0\1\0"

        # Errors next to their fields, in Vietnamese, gone once the field is changed.
        assert await page.get_attribute("#su-born", "type") in (None, "text")
        await page.fill("#su-card", "12")
        await page.fill("#su-name", "Nguyễn Văn An")
        await page.fill("#su-born", "31/02/1960")
        await page.fill("#su-phone", "0912345678")
        await page.fill("#su-password", PASSWORD)
        await page.click("#signup-form button[type=submit]")
        await expect(page.locator("#su-born-error")).to_contain_text("ngày có thật")
        await page.fill("#su-born", "01/05/1960")
        await expect(page.locator("#su-born-error")).to_have_count(0)
        await page.click("#signup-form button[type=submit]")
        await expect(page.locator("#su-card-error")).to_contain_text("phải gồm 8 đến 12 chữ số")
        await no_english(page)
        await shot(page, "welcome-errors")
        await page.fill("#su-card", "010000099")
        await expect(page.locator("#su-card-error")).to_have_count(0)

        # English and back: nothing typed is lost.
        await page.fill("#card", "010000001")
        await page.select_option("#lang", "en")
        await expect(page.locator("#signup-form button[type=submit]")).to_have_text("Create an account")
        assert [await page.input_value(s) for s in ("#card", "#su-card", "#su-name", "#su-born")] == [
            "010000001", "010000099", "Nguyễn Văn An", "01/05/1960"]
        await page.select_option("#lang", "vi")
        await expect(page.locator("#signup-form button[type=submit]")).to_have_text("Đăng ký tài khoản")
        assert await page.input_value("#su-name") == "Nguyễn Văn An"
        await page.context.close()


async def test_the_members_record_and_corrections_read_as_people_write_them(system, browser):
    await member_account(system, "010000001", "Nguyễn Văn An")
    async with real_server(system) as base:
        page = await phone_page(browser)
        await sign_in(page, base, "010000001")
        await expect(page.locator("#nav")).to_be_visible()
        await page.click("a[href='#profile']")
        record = page.locator("dl.record")
        await expect(record).to_contain_text("01/05/1960")
        said = await record.inner_text()
        assert "Chi bộ số 1" in said and "Đảng bộ phường Điện Biên" in said and "Quận Ba Đình" in said
        assert "Đang sinh hoạt" in said and "0910 000 001" in said, said
        assert not [raw for raw in ("ba-dinh", "active", "+84", "1960-05-01") if raw in said], said
        assert await small_targets(page) == []

        # A date that is no date: said next to the field, gone when fixed; sent, the form clears.
        await page.select_option("#corr-field", "date_of_birth")
        await expect(page.locator("#corr-value-hint")).to_contain_text("01/05/1960")
        await page.fill("#corr-value", "31/02/1960")
        await page.click("#correction-form button[type=submit]")
        await expect(page.locator("#corr-value-error")).to_contain_text("ngày có thật")
        await page.fill("#corr-value", "02/05/1960")
        await expect(page.locator("#corr-value-error")).to_have_count(0)
        await page.fill("#corr-note", "Giấy khai sinh ghi ngày 2")
        await page.click("#correction-form button[type=submit]")
        await expect(page.locator("#correction-done")).to_contain_text("Đề nghị đã được gửi")
        assert await page.input_value("#corr-value") == "" and await page.input_value("#corr-note") == ""
        mine = page.locator("#my-corrections li")
        await expect(mine).to_have_count(1)
        await expect(mine).to_contain_text("Đang chờ xem xét")
        await expect(mine).to_contain_text("02/05/1960")
        await shot(page, "profile")

        # The cell decides; the member sees how, and why.
        admin = system.auth("unit_admin", "ba-dinh")
        queue = (await system.client.get("/api/members/v1/corrections", headers=admin)).json()["items"]
        request = next(c for c in queue if c["changes"] == {"date_of_birth": "1960-05-02"})
        assert (await system.client.post(f"/api/members/v1/corrections/{request['id']}/reject",
                                         json={"reason": "Lý lịch đảng viên ghi ngày 1"}, headers=admin)).status_code == 200
        await page.reload()
        await expect(mine).to_contain_text("Không chấp nhận")
        await expect(mine).to_contain_text("Lý lịch đảng viên ghi ngày 1")
        await no_english(page)

        # A language switch redraws the record and keeps what was being typed.
        await page.select_option("#corr-field", "full_name")
        await page.fill("#corr-value", "Nguyễn Văn Ân")
        await page.select_option("#lang", "en")
        await expect(page.locator("#view h2").first).to_have_text("My record")
        assert await page.input_value("#corr-value") == "Nguyễn Văn Ân"
        assert await page.input_value("#corr-field") == "full_name"
        await page.select_option("#lang", "vi")
        await expect(page.locator("#view h2").first).to_have_text("Thông tin cá nhân")
        assert await page.input_value("#corr-value") == "Nguyễn Văn Ân"
        await page.context.close()


async def test_an_ended_session_says_so_and_keeps_what_was_typed(system, browser):
    await member_account(system, "010000002", "Trần Thị Bình")
    async with real_server(system) as base:
        page = await phone_page(browser)
        await page.clock.install()
        await sign_in(page, base, "010000002", path="/#profile")
        await page.select_option("#corr-field", "phone")
        await page.fill("#corr-value", "0988 000 111")
        await page.fill("#corr-note", "Số mới từ tháng 12")
        await page.context.clear_cookies()  # the sign-in ends elsewhere: the renewal will be refused
        await page.clock.fast_forward("16:00")
        await page.click("#correction-form button[type=submit]")
        await expect(page.locator("#session-note")).to_contain_text("Phiên đăng nhập đã hết")
        await expect(page.locator("#signin")).to_be_visible()
        assert await page.input_value("#corr-value") == "0988 000 111"
        assert await page.input_value("#corr-note") == "Số mới từ tháng 12"
        await no_english(page)
        await shot(page, "session-ended")

        await page.fill("#card", "010000002")
        await page.fill("#password", PASSWORD)
        await page.click("#signin-form button[type=submit]")
        await expect(page.locator("#signin")).to_be_hidden()
        assert await page.input_value("#corr-value") == "0988 000 111"
        await page.click("#correction-form button[type=submit]")
        await expect(page.locator("#correction-done")).to_contain_text("Đề nghị đã được gửi")
        await expect(page.locator("#my-corrections li")).to_contain_text("0988 000 111")
        await page.context.close()


async def test_feedback_awaiting_moderation_says_so(system, browser):
    await member_account(system, "010000001", "Nguyễn Văn An")
    aid = await publish_article(system, "Lịch tiếp công dân tháng 12", "Tin của phường.",
                                "Lịch **tiếp công dân** của phường.")
    async with real_server(system) as base:
        page = await phone_page(browser)
        await sign_in(page, base, "010000001", path=f"/#article/{aid}")
        await expect(page.locator("#article-title")).to_have_text("Lịch tiếp công dân tháng 12")
        assert "/" in await page.locator("#view .muted").first.inner_text()  # dd/mm/yyyy HH:mm
        await page.fill("#feedback-body", "Đề nghị thêm buổi chiều thứ bảy.")
        await page.dblclick("#feedback-form button[type=submit]")
        await expect(page.locator("#feedback-done")).to_contain_text("đang chờ chi bộ duyệt")
        await expect(page.locator("#feedback blockquote")).to_have_count(1)  # sent once
        await expect(page.locator("#feedback blockquote")).to_contain_text("đang chờ duyệt")
        assert await page.input_value("#feedback-body") == ""
        assert await small_targets(page) == []
        await no_english(page)
        await shot(page, "article-feedback")
        await page.context.close()



async def test_a_slow_feed_is_not_drawn_over_the_page_the_member_went_to(system, browser):
    """The feed still loading when the member taps "Hồ sơ": the profile stays. (CI saw the feed's
    late answer replace the profile, and its form vanish under the member's finger.)"""
    await member_account(system, "010000001", "Nguyễn Văn An")
    async with real_server(system) as base:
        page = await phone_page(browser, service_workers="block")  # so the page's route sees the feed's call
        held: list = []
        arrived = asyncio.Event()

        async def hold(route):
            if arrived.is_set():
                await route.continue_()
            else:
                held.append(route)
                arrived.set()

        await page.route("**/api/content/v1/feed*", hold)
        await sign_in(page, base, "010000001")
        await asyncio.wait_for(arrived.wait(), 10)
        await page.click("a[href='#profile']")
        await expect(page.locator("#request-form")).to_be_visible()
        async with page.expect_response("**/api/content/v1/feed*"):
            for route in held:  # the feed's answer comes now, after the profile was drawn
                await route.continue_()
        await page.wait_for_timeout(300)  # time for the page to draw what it received
        await expect(page.locator("#request-form")).to_be_visible()
        await expect(page.locator("#view h2").first).to_have_text("Thông tin cá nhân")
        await page.context.close()


async def test_switching_language_twice_keeps_what_was_typed_when_the_first_redraw_ends_late(system, browser):
    """CI saw the typed value gone after a switch to English and straight back: the first redraw,
    finishing its record's lists after the second had begun, cleared what the second carried."""
    await member_account(system, "010000001", "Nguyễn Văn An")
    async with real_server(system) as base:
        page = await phone_page(browser, service_workers="block")  # so the page's routes see its calls
        await sign_in(page, base, "010000001", path="/#profile")
        await page.select_option("#corr-field", "full_name")
        await page.fill("#corr-value", "Nguyễn Văn Ân")
        lists: list = []
        records: list = []
        hold_lists, hold_records = asyncio.Event(), asyncio.Event()

        def holder(held, holding):
            async def hold(route):
                if holding.is_set():
                    held.append(route)
                else:
                    await route.continue_()
            return hold

        async def until_held(held):
            for _ in range(150):
                if held:
                    return
                await asyncio.sleep(0.1)
            raise AssertionError("the request was never made")

        await page.route("**/api/members/v1/me/corrections", holder(lists, hold_lists))
        await page.route("**/api/members/v1/members/me", holder(records, hold_records))
        hold_lists.set()  # the English view is drawn; its corrections list waits
        await page.select_option("#lang", "en")
        await expect(page.locator("#view h2").first).to_have_text("My record")
        await until_held(lists)
        hold_records.set()  # back to Vietnamese: its record waits ...
        await page.select_option("#lang", "vi")
        await until_held(records)
        hold_lists.clear()
        for route in lists:  # ... while the English view's lists arrive and its redraw ends
            await route.continue_()
        await page.wait_for_timeout(300)
        hold_records.clear()
        for route in records:
            await route.continue_()
        await expect(page.locator("#view h2").first).to_have_text("Thông tin cá nhân")
        assert await page.input_value("#corr-field") == "full_name"
        assert await page.input_value("#corr-value") == "Nguyễn Văn Ân"
        await page.context.close()


async def test_a_member_who_cannot_come_says_why(system, browser):
    """Issue 20: "Tôi vắng mặt" asks for the reason, which the cell's secretary reads on the roll."""
    from datetime import UTC, datetime, timedelta

    await member_account(system, "010000002", "Trần Thị Bình")
    called = await system.client.post("/api/content/v1/meetings", headers=system.auth("cell_secretary", "ba-dinh-g1-c1"),
                                      json={"cell": "ba-dinh-g1-c1", "kind": "thematic", "place": "Hội trường phường",
                                            "starts_at": (datetime.now(UTC) + timedelta(days=3)).isoformat(),
                                            "agenda": "Sinh hoạt chuyên đề"})
    assert called.status_code == 201, called.text
    async with real_server(system) as base:
        page = await phone_page(browser)
        await sign_in(page, base, "010000002", path="/#meetings")
        meeting = page.locator(f'article.meeting[data-id="{called.json()["id"]}"]')
        await expect(meeting).to_contain_text("Sinh hoạt chuyên đề")
        await meeting.locator("button.absent").click()
        await expect(meeting.locator("form.absent-form textarea")).to_be_focused()
        await meeting.locator("form.absent-form textarea").fill("Đi khám bệnh định kỳ")
        await meeting.locator("form.absent-form button[type=submit]").click()
        await expect(meeting.locator("[role=status]")).to_have_text("Đồng chí đã báo vắng mặt.")
        await expect(meeting.locator("form.absent-form")).to_be_hidden()
        assert await small_targets(page) == []
        await no_english(page)
        await shot(page, "meeting-absent")
        await page.context.close()
    roll = (await system.client.get(f"/api/content/v1/meetings/{called.json()['id']}/attendance",
                                    headers=system.auth("cell_secretary", "ba-dinh-g1-c1"))).json()
    assert [(m["attending"], m["note"]) for m in roll["members"] if m["full_name"] == "Trần Thị Bình"] == \
        [(False, "Đi khám bệnh định kỳ")]


async def test_a_meeting_that_has_started_is_not_offered_an_answer(system, browser):
    """A meeting of the last month that has taken place is listed without "Tôi sẽ tham dự" and
    "Tôi vắng mặt" (the service refuses an answer once it has started): the page says it took place."""
    from datetime import UTC, datetime, timedelta

    await member_account(system, "010000002", "Trần Thị Bình")
    secretary = system.auth("cell_secretary", "ba-dinh-g1-c1")
    ids = []
    for days, agenda in ((4, "Sinh hoạt sắp tới"), (5, "Sinh hoạt đã họp")):
        called = await system.client.post("/api/content/v1/meetings", headers=secretary, json={
            "cell": "ba-dinh-g1-c1", "kind": "regular", "place": "Hội trường phường", "agenda": agenda,
            "starts_at": (datetime.now(UTC) + timedelta(days=days)).isoformat()})
        assert called.status_code == 201, called.text
        ids.append(called.json()["id"])
    upcoming, past = ids
    async with system.runtimes["content"].context.engine.begin() as db:
        await db.execute(text("UPDATE meetings SET starts_at = now() - interval '10 days', "
                              "held_at = now() - interval '10 days' WHERE id = :id"), {"id": past})
    async with real_server(system) as base:
        page = await phone_page(browser)
        await sign_in(page, base, "010000002", path="/#meetings")
        held = page.locator(f'article.meeting[data-id="{past}"]')
        await expect(held).to_contain_text("Sinh hoạt đã họp")
        await expect(held).to_contain_text("Buổi sinh hoạt đã diễn ra.")
        await expect(held.locator("button")).to_have_count(0)
        await expect(page.locator(f'article.meeting[data-id="{upcoming}"] button.attend')).to_be_visible()
        await no_english(page)
        await page.context.close()
