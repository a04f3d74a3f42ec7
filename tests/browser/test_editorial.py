"""The editorial console in a real browser: an editor writes and submits;
the chief editor sends it back with a comment, then approves and publishes
it; it reaches members' feeds; it is retracted with a reason; the history
shows who did what (by role and unit name); a feed source at an internal address is refused, and one
that publishes at once waits for a second chief editor, who approves it. An
editor of another committee sees none of it, and the API refuses them."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from tests.browser.conftest import screenshot, sign_in_as, staff_account
from tests.support.system import eventually, real_server

pytestmark = pytest.mark.integration


async def as_user(browser, system, base: str, role: str, unit: str, path: str = "/console/editorial", *,
                  person: str = ""):
    page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
    await sign_in_as(page, system, base, role, unit, path, person=person)
    return page


async def test_write_review_publish_retract_and_sources(system, browser):
    c = system.client
    async with real_server(system) as base:
        editor = await as_user(browser, system, base, "editor", "city")
        await editor.fill("#w-title", "Thông báo lịch tiếp công dân")
        await editor.fill("#w-summary", "Lịch tháng 12.")
        await editor.fill("#w-body", "Thường trực Thành ủy **tiếp công dân** vào thứ Năm.")
        await editor.locator("#w-audience-picker .unit-chosen li", has_text="Thành phố Hà Nội").wait_for()  # by name
        await editor.click("#write-form button[type=submit]")
        await editor.wait_for_selector("#write-done:has-text('Đã lưu bản nháp')")
        row = editor.locator("#desk tr", has_text="Thông báo lịch tiếp công dân")
        await row.locator("button.do-submit").click()
        await editor.wait_for_selector("#desk tr[data-status=submitted]")
        aid = await editor.locator("#desk tr[data-status=submitted]").get_attribute("data-id")

        chief = await as_user(browser, system, base, "chief_editor", "city")
        row = chief.locator(f'#desk tr[data-id="{aid}"]')
        await row.locator("button", has_text="Trả lại").click()
        await row.locator("form.step input").fill("Ghi rõ giờ tiếp.")
        await row.locator("form.step button").click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=draft]')

        await editor.reload()
        await editor.locator(f'#desk tr[data-id="{aid}"] button.do-submit').click()
        await editor.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=submitted]')  # then the chief looks
        await chief.reload()
        await chief.locator(f'#desk tr[data-id="{aid}"] button.do-approve').click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=approved]')
        await chief.locator(f'#desk tr[data-id="{aid}"] button.do-publish').click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=published]')
        feed = (await c.get("/api/content/v1/feed", headers=system.auth("member", "ba-dinh-g1-c1",
                                                                        card="010000001"))).json()
        assert aid in [a["id"] for a in feed["items"]]
        await screenshot(chief, "console-editorial")

        row = chief.locator(f'#desk tr[data-id="{aid}"]')
        await row.locator("button", has_text="Gỡ tin").click()
        await row.locator("form.step input").fill("Đã có lịch mới.")
        await row.locator("form.step button").click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=retracted]')
        await chief.locator(f'#desk tr[data-id="{aid}"] button', has_text="Lịch sử").click()
        await chief.wait_for_selector("#history li")
        history = await chief.locator("#history").inner_text()
        async with system.runtimes["identity"].context.engine.connect() as db:
            editor_account = (await db.execute(text("SELECT id FROM accounts WHERE party_card_no = :c"), {
                "c": await staff_account(system, "editor", "city")})).scalar_one()
        assert "Ghi rõ giờ tiếp." in history and "Đã có lịch mới." in history
        # Who did it, by role and unit name (this staff account is not in the registry), not an account id.
        assert "Biên tập viên, Thành phố Hà Nội: gửi duyệt" in history and str(editor_account) not in history

        # Another one, approved, scheduled from the page for tomorrow morning.
        editor_auth = system.auth("editor", "city", subject="bien-tap-vien")
        later = (await c.post("/api/content/v1/articles", headers=editor_auth, json={
            "title": "Lịch sinh hoạt chuyên đề", "body": "Nội dung.", "category": "guidance",
            "audience": ["city"]})).json()["id"]
        for step, who in (("submit", editor_auth), ("approve", system.auth("chief_editor", "city", subject="tbt"))):
            assert (await c.post(f"/api/content/v1/articles/{later}/{step}", headers=who)).status_code == 200
        await chief.reload()
        row = chief.locator(f'#desk tr[data-id="{later}"]')
        await row.locator("button", has_text="Hẹn giờ").click()
        tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT07:30")
        await row.locator("form.step input[name=publish_at]").fill(tomorrow)
        await row.locator("form.step button").click()
        await chief.wait_for_selector(f'#desk tr[data-id="{later}"][data-status=scheduled]')

        # An internal address is refused, said in Vietnamese.
        await chief.fill("#fd-url", "http://169.254.169.254/latest/meta-data/")
        await chief.click("#feed-form button[type=submit]")
        await chief.wait_for_selector("#error:has-text('địa chỉ bị chặn: 169.254.169.254 là địa chỉ liên kết cục bộ')")
        # A source that publishes at once waits for a second chief editor, who approves it from the table.
        await chief.fill("#fd-url", "https://tin.sotay.invalid/rss.xml")
        await chief.check("#fd-publish")
        await chief.click("#feed-form button[type=submit]")
        row = chief.locator("#feeds tr", has_text="tin.sotay.invalid")
        await row.locator("td.feed-mode:has-text('chờ tổng biên tập khác duyệt')").wait_for()
        assert await row.locator("button.do-approve-feed").count() == 0  # not for the one who added it
        second = await as_user(browser, system, base, "chief_editor", "city", person="second")
        await second.locator("#feeds tr", has_text="tin.sotay.invalid").locator("button.do-approve-feed").click()
        await second.wait_for_selector("#feeds td.feed-mode:has-text('Đăng ngay — đã duyệt')")
        feed_row = second.locator("#feeds tr", has_text="tin.sotay.invalid")
        assert await feed_row.locator("td.feed-mode").inner_text() == "Đăng ngay — đã duyệt"  # no account id
        assert await feed_row.locator("td.unit").inner_text() == "Thành phố Hà Nội"  # the unit by name
        await screenshot(second, "console-editorial-feeds")
        # A poll that met a refused address (a redirect inward) shows why, in Vietnamese. (Written here once the
        # poller has tried the source, which no test resolves, and will not try again for an hour.)
        async def tried():
            async with system.runtimes["content"].context.engine.connect() as db:
                return (await db.execute(text("SELECT failures > 0 FROM feeds WHERE url = :u"),
                                         {"u": "https://tin.sotay.invalid/rss.xml"})).scalar()
        await eventually(tried, timeout=15)
        async with system.runtimes["content"].context.engine.begin() as db:
            await db.execute(text("UPDATE feeds SET last_error = 'refused address: tin.sotay.invalid (10.0.0.7) is a "
                                  "private address', next_poll_at = now() + interval '1 hour' "
                                  "WHERE url = 'https://tin.sotay.invalid/rss.xml'"))
        await second.reload()
        await second.wait_for_selector("#feeds td.feed-error:has-text('địa chỉ bị chặn: tin.sotay.invalid (10.0.0.7) "
                                       "là địa chỉ mạng riêng')")
        await second.context.close()

        # An editor of another committee: nothing of the city's desk, and the API says no.
        outsider = await as_user(browser, system, base, "chief_editor", "ba-dinh")
        await outsider.wait_for_selector("#desk tbody tr")
        assert aid not in await outsider.locator("#desk").inner_html()
        refused = await c.post(f"/api/content/v1/articles/{aid}/retract", json={"reason": "x"},
                               headers=system.auth("chief_editor", "ba-dinh"))
        assert refused.status_code in (403, 404)
        for page in (editor, chief, outsider):
            await page.context.close()
