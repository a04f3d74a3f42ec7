"""The editorial console for the people who use it (issue 18, "Editors and clerks"):
the chief editor previews an article as members will read it before approving it,
and an author edits their draft; nobody is offered "Duyệt" on their own article
(the two-person rule is said instead); the history names people (or their role and
unit by name), and time fields say they are Hà Nội's and read what is typed as
GMT+7 whatever the device's zone; units are chosen by name with a search, not typed
as codes. At 390 px and 1366 px, locale vi-VN."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from services.identity.handlers.accounts import create_user
from tests.browser.conftest import STAFF_HASH, STAFF_PASSWORD, sign_in_as
from tests.support.system import eventually, real_server

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots/editorial")
HANOI = timezone(timedelta(hours=7))


async def new_page(browser, *, width: int = 1366, zone: str = "Asia/Ho_Chi_Minh"):
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="vi-VN", timezone_id=zone)
    return await context.new_page()


async def as_user(browser, system, base: str, role: str, unit: str, *, person: str = "", width: int = 1366,
                  zone: str = "Asia/Ho_Chi_Minh"):
    page = await new_page(browser, width=width, zone=zone)
    await sign_in_as(page, system, base, role, unit, "/console/editorial", person=person)
    await page.wait_for_selector("#desk tbody tr")
    return page


async def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, width in (("1366", 1366), ("390", 390)):
        await page.set_viewport_size({"width": width, "height": 900})
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    await page.set_viewport_size({"width": 1366, "height": 900})


async def choose_units(page, picker: str, *searches: tuple[str, str]) -> None:
    """Empty the unit picker, then for each (typed, name) type and pick the unit named so."""
    box = page.locator(f"#{picker}-picker")
    while await box.locator("button.unit-remove").count():
        await box.locator("button.unit-remove").first.click()
    for typed, name in searches:
        await box.locator("input[type=search]").fill(typed)
        await box.locator("button.unit-choice", has_text=name).first.click()


async def write(page, title: str, body: str, *audience: tuple[str, str]) -> str:
    await page.fill("#w-title", title)
    await page.fill("#w-body", body)
    if audience:
        await choose_units(page, "w-audience", *audience)
    await page.click("#w-save")
    await page.wait_for_selector("#write-done:has-text('Đã lưu')")
    row = page.locator("#desk tr", has_text=title)
    return await row.get_attribute("data-id")


async def test_the_chief_previews_the_article_and_the_author_edits_the_draft(system, browser):
    async with real_server(system) as base:
        editor = await as_user(browser, system, base, "editor", "city")
        aid = await write(editor, "Bản nháp cần sửa", "Nội dung **cũ**.", ("ba dinh", "Quận Ba Đình"))
        row = editor.locator(f'#desk tr[data-id="{aid}"]')
        await row.locator("button.do-edit").click()
        await expect(editor.locator("#w-title")).to_have_value("Bản nháp cần sửa")
        await expect(editor.locator("#w-body")).to_have_value("Nội dung **cũ**.")
        await expect(editor.locator("#w-audience-picker .unit-chosen li")).to_contain_text(["Quận Ba Đình"])
        await expect(editor.locator("#w-save")).to_have_text("Lưu thay đổi")
        await editor.fill("#w-title", "Lịch tiếp công dân tháng 12")
        await editor.fill("#w-body", "Thường trực Thành ủy **tiếp công dân** vào thứ Năm.\n\n"
                                     "<script>document.title = 'x'</script><img src=x onerror=\"document.title='y'\">")
        await editor.click("#w-save")
        await editor.wait_for_selector("#write-done:has-text('Đã lưu thay đổi')")
        await expect(row.locator("td").first).to_contain_text("Lịch tiếp công dân tháng 12")
        assert await editor.locator("#desk tr", has_text="Bản nháp cần sửa").count() == 0  # the same draft, changed
        await row.locator("button.do-submit").click()
        await editor.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=submitted]')
        assert await row.locator("button.do-edit").count() == 0  # a submitted article is not edited

        chief = await as_user(browser, system, base, "chief_editor", "city")
        await chief.locator(f'#desk tr[data-id="{aid}"] button.do-preview').click()
        await chief.wait_for_selector("#preview:not([hidden])")
        await expect(chief.locator("#preview-title")).to_have_text("Lịch tiếp công dân tháng 12")
        await expect(chief.locator("#preview-body strong")).to_have_text("tiếp công dân")
        await expect(chief.locator("#preview-meta")).to_contain_text("Quận Ba Đình")
        # The summary made from the first body is made again from the edited one.
        await expect(chief.locator("#preview-summary")).to_have_text("Thường trực Thành ủy tiếp công dân vào thứ Năm.")
        assert await chief.locator("#preview-body script, #preview-body [onerror]").count() == 0
        assert await chief.title() != "x" and await chief.title() != "y"
        await shoot(chief, "preview")
        await chief.locator(f'#desk tr[data-id="{aid}"] button.do-approve').click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=approved]')
        for page in (editor, chief):
            await page.context.close()


async def test_no_one_is_offered_to_approve_their_own_article(system, browser):
    async with real_server(system) as base:
        chief = await as_user(browser, system, base, "chief_editor", "city", person="own")
        aid = await write(chief, "Bài của chính tổng biên tập", "Nội dung.")
        row = chief.locator(f'#desk tr[data-id="{aid}"]')
        await row.locator("button.do-submit").click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=submitted]')
        assert await row.locator("button.do-approve").count() == 0
        await expect(row.locator(".two-person")).to_contain_text("theo nguyên tắc hai người, cần một tổng biên tập "
                                                                 "khác duyệt")
        await shoot(chief, "two-person")

        editor = await as_user(browser, system, base, "editor", "city", person="own")  # an editor does not approve
        await expect(editor.locator(f'#desk tr[data-id="{aid}"]')).to_contain_text("Chờ tổng biên tập duyệt")
        assert await editor.locator(f'#desk tr[data-id="{aid}"] button.do-approve').count() == 0

        other = await as_user(browser, system, base, "chief_editor", "city", person="other")
        await other.locator(f'#desk tr[data-id="{aid}"] button.do-approve').click()
        await other.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=approved]')
        for page in (chief, editor, other):
            await page.context.close()


async def test_a_step_someone_else_took_first_is_said_in_vietnamese(system, browser):
    """Two chief editors open the same submitted article; the second to press "Duyệt" is told, by
    the refusal's code (wrong_status), that the article is no longer at that step."""
    async with real_server(system) as base:
        editor = await as_user(browser, system, base, "editor", "city", person="race")
        aid = await write(editor, "Bài hai người cùng duyệt", "Nội dung.")
        await editor.locator(f'#desk tr[data-id="{aid}"] button.do-submit').click()
        await editor.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=submitted]')
        first = await as_user(browser, system, base, "chief_editor", "city", person="race-1")
        second = await as_user(browser, system, base, "chief_editor", "city", person="race-2")
        await first.locator(f'#desk tr[data-id="{aid}"] button.do-approve').click()
        await first.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=approved]')
        await second.locator(f'#desk tr[data-id="{aid}"] button.do-approve').click()
        await expect(second.locator("#error")).to_have_text(
            "Bài này không còn ở bước đó (có thể đồng chí khác vừa xử lý). Đề nghị xem lại danh sách.")
        for page in (editor, first, second):
            await page.context.close()


async def test_history_names_people_and_times_are_hanoi_time(system, browser):
    # A chief editor the registry knows (a member's card): the history says their name. A staff
    # account the registry does not know: its role and the unit's name.
    card = "010000003"  # Lê Văn Cường
    async with system.runtimes["identity"].context.engine.begin() as db:
        await create_user(db, card_no=card, card_hash=system.runtimes["identity"].context.pii_hash(card),
                          phone="0930000003", password_hash=STAFF_HASH, role="chief_editor",
                          unit="city", by="test")

    async def known():
        async with system.runtimes["content"].context.engine.connect() as db:
            return (await db.execute(text("SELECT 1 FROM readers WHERE party_card_no = :c"), {"c": card})).scalar()
    await eventually(known, timeout=15)

    async with real_server(system) as base:
        editor = await as_user(browser, system, base, "editor", "city", person="history")
        aid = await write(editor, "Lịch sinh hoạt chuyên đề", "Nội dung.")
        await editor.locator(f'#desk tr[data-id="{aid}"] button.do-submit').click()
        await editor.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=submitted]')

        # The chief's device is set to London time: what is typed is still Hà Nội's.
        chief = await new_page(browser, zone="Europe/London")
        answer = await chief.request.post(f"{base}/api/identity/v1/token", form={
            "grant_type": "password", "username": card, "password": STAFF_PASSWORD, "refresh_delivery": "cookie"})
        assert answer.ok, await answer.text()
        await chief.goto(f"{base}/console/editorial")
        row = chief.locator(f'#desk tr[data-id="{aid}"]')
        await row.locator("button.do-approve").click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=approved]')
        await row.locator("button", has_text="Hẹn giờ").click()
        await expect(row.locator("form.step")).to_contain_text("Đăng lúc (giờ Hà Nội, GMT+7)")
        await expect(row.locator("form.step")).to_contain_text("Hết hạn lúc (giờ Hà Nội, GMT+7)")
        tomorrow = datetime.now(HANOI) + timedelta(days=1)
        await row.locator("form.step input[name=publish_at]").fill(tomorrow.strftime("%Y-%m-%dT07:30"))
        await row.locator("form.step button[type=submit]").click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=scheduled]')
        async with system.runtimes["content"].context.engine.connect() as db:
            publish_at = (await db.execute(text("SELECT publish_at FROM articles WHERE id = :a"), {"a": aid})).scalar()
        assert publish_at == tomorrow.replace(hour=7, minute=30, second=0, microsecond=0).astimezone(UTC)
        await expect(row.locator("td.status")).to_contain_text(f"{tomorrow:%d/%m/%Y} 07:30 (giờ Hà Nội)")

        await row.locator("button.do-history").click()
        await chief.wait_for_selector("#history li")
        history = await chief.locator("#history").inner_text()
        assert "Lê Văn Cường (Tổng biên tập, Thành phố Hà Nội): duyệt" in history
        assert "Biên tập viên, Thành phố Hà Nội: tạo bản nháp" in history
        assert f"hẹn giờ đăng {tomorrow:%d/%m/%Y} 07:30 (giờ Hà Nội)" in history
        assert "giờ Hà Nội, GMT+7" in history
        async with system.runtimes["identity"].context.engine.connect() as db:
            accounts = (await db.execute(text("SELECT id::text FROM accounts"))).scalars().all()
        assert not [a for a in accounts if a in history]  # no account ids
        await shoot(chief, "history")
        for page in (editor, chief):
            await page.context.close()


async def test_units_are_chosen_by_name_with_a_search(system, browser):
    async with real_server(system) as base:
        editor = await as_user(browser, system, base, "editor", "ba-dinh", width=390)
        # The audience starts at the top of the units one edits, by name.
        await expect(editor.locator("#w-audience-picker .unit-chosen li")).to_contain_text(["Quận Ba Đình"])
        box = editor.locator("#w-audience-picker")
        await box.locator("input[type=search]").fill("dien bien")  # accents optional
        await expect(box.locator("button.unit-choice")).to_contain_text(["Đảng bộ phường Điện Biên — Quận Ba Đình"])
        await box.locator("input[type=search]").fill("Tây Hồ")  # another committee's: not offered
        await expect(box.locator(".unit-results")).to_contain_text("Không thấy đơn vị nào.")
        await shoot(editor, "units")
        aid = await write(editor, "Tin chi bộ", "Nội dung.", ("chi bo so 1", "Chi bộ số 1"),
                          ("Điện Biên", "Đảng bộ phường Điện Biên"))
        await expect(editor.locator(f'#desk tr[data-id="{aid}"] td.unit')).to_have_text("Quận Ba Đình")
        article = (await system.client.get(f"/api/content/v1/articles/{aid}",
                                           headers=system.auth("editor", "ba-dinh"))).json()
        assert article["audience"] == ["ba-dinh-g1-c1", "ba-dinh-g1"] and article["author_unit"] == "ba-dinh"
        # The feed source's unit too.
        await expect(editor.locator("#fd-unit-picker .unit-chosen li")).to_contain_text(["Quận Ba Đình"])
        # Its "publish at once" box as large as the other pages' (it was the browser's 13 px), its
        # label a 44 px target, on a phone too (where its long words squeezed the box).
        await editor.set_viewport_size({"width": 390, "height": 900})
        tick, label = (await editor.locator("#fd-publish").bounding_box(),
                       await editor.locator('label:has(#fd-publish)').bounding_box())
        assert tick["width"] >= 22 and tick["height"] >= 22 and label["height"] >= 44, (tick, label)
        await editor.context.close()


async def test_the_units_list_is_for_editors_within_their_units(system):
    c = system.client
    assert (await c.get("/api/content/v1/units")).status_code == 401
    member = system.auth("member", "ba-dinh-g1-c1", card="010000001")
    assert (await c.get("/api/content/v1/units", headers=member)).status_code == 403
    mine = (await c.get("/api/content/v1/units?q=ho", headers=system.auth("editor", "ba-dinh"))).json()["items"]
    assert "tay-ho" not in [u["code"] for u in mine]
    city = (await c.get("/api/content/v1/units?q=tay ho", headers=system.auth("editor", "city"))).json()["items"]
    assert [u["code"] for u in city] == ["tay-ho"] and city[0]["parent_name"] == "Thành phố Hà Nội"
    assert (await c.get("/api/content/v1/units?limit=0", headers=system.auth("editor", "city"))).status_code == 422
    # A desk row says whether the caller may review it, and whether it is theirs.
    editor = system.auth("editor", "city", subject="desk-flags")
    aid = (await c.post("/api/content/v1/articles", headers=editor, json={
        "title": "Cờ bàn biên tập", "body": "x", "category": "news", "audience": ["city"]})).json()["id"]
    rows = {a["id"]: a for a in (await c.get("/api/content/v1/articles", headers=editor)).json()["items"]}
    assert rows[aid]["yours"] is True and rows[aid]["may_review"] is False
    assert rows[aid]["author_unit_name"] == "Thành phố Hà Nội"
    rows = {a["id"]: a for a in (await c.get("/api/content/v1/articles",
                                             headers=system.auth("chief_editor", "city"))).json()["items"]}
    assert rows[aid]["yours"] is False and rows[aid]["may_review"] is True
    # A draft's text as written is for its editors; the same article is not readable by a member.
    draft = (await c.get(f"/api/content/v1/articles/{aid}", headers=editor)).json()
    assert draft["body"] == "x"
    assert (await c.get(f"/api/content/v1/articles/{aid}", headers=member)).status_code == 404


async def test_the_new_words_have_english_behind_the_switch(system, browser):
    c, editor = system.client, system.auth("editor", "city", subject="english-writer")
    aid = (await c.post("/api/content/v1/articles", headers=editor, json={
        "title": "An approved one", "body": "x", "category": "news", "audience": ["city"]})).json()["id"]
    for step, who in (("submit", editor), ("approve", system.auth("chief_editor", "city", subject="english-chief"))):
        assert (await c.post(f"/api/content/v1/articles/{aid}/{step}", headers=who)).status_code == 200
    async with real_server(system) as base:
        chief = await as_user(browser, system, base, "chief_editor", "city", person="english")
        await chief.select_option("#lang", "en")
        await chief.wait_for_selector("#desk tbody tr")
        await expect(chief.locator("label[for=w-audience]")).to_have_text("Audience (type a unit's name to search)")
        await expect(chief.locator("#w-audience")).to_have_attribute("placeholder", "Type a unit's name, e.g. Ba Đình")
        await expect(chief.locator("#desk button.do-preview").first).to_have_text("Preview")
        await chief.locator(f'#desk tr[data-id="{aid}"] button', has_text="Schedule").click()
        await expect(chief.locator("form.step").first).to_contain_text("Publish at (Hà Nội time, GMT+7)")
        await chief.select_option("#lang", "vi")
        await chief.context.close()
