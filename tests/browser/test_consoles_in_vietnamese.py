"""The consoles speak Vietnamese only (issue 18: every visible word Vietnamese, never an English
server message): walking each console in vi-VN the way its people use it, no text it shows, nor
the placeholders and labels of what it shows, holds an English word. The walk's own data (the
names, titles and files it types in) is Vietnamese, or left out of the check."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from playwright.async_api import expect
from sqlalchemy import text

from tests.browser.conftest import sign_in_as
from tests.browser.test_editorial_desk import write
from tests.support.system import CONSENT, eventually, import_registry, real_server, registry_row

pytestmark = pytest.mark.integration

DESKTOP = {"width": 1366, "height": 900}
ENGLISH = re.compile(r"\b(the|and|not|is|are|of|member|unit|status|error|search|import|save|cancel|transfer"
                     r"|record|required|invalid|must|field)\b", re.IGNORECASE)


async def english(page, *ours: str) -> list[str]:
    """The lines the page shows (its text, and the placeholders, labels and tooltips of what shows)
    that hold an English word, the walk's own data `ours` left out."""
    shown = (await page.locator("body").inner_text()).splitlines()
    shown += await page.evaluate("""() => [...document.querySelectorAll("[placeholder], [aria-label], [title]")]
      .filter((e) => e.getClientRects().length)
      .flatMap((e) => [e.getAttribute("placeholder"), e.getAttribute("aria-label"), e.getAttribute("title")])
      .filter(Boolean)""")
    for mine in ours:
        shown = [line.replace(mine, "") for line in shown]
    return [line for line in shown if ENGLISH.search(line)]


async def vi_page(browser):
    return await (await browser.new_context(viewport=DESKTOP, locale="vi-VN")).new_page()


# A file with a row for each way a row is refused, as a clerk might write them.
REFUSED_ROWS = (
    "Số thẻ đảng viên,Họ và tên,Ngày sinh,Giới tính,Số điện thoại,Chi bộ,Tình trạng,Đủ điều kiện,Lý do không đủ điều kiện,"
    "Ngày vào Đảng,Ngày chính thức\n"
    "050000001,Phan Văn Một,01/05/1960,Nam,,Chi bộ số 1,,,,03/02/1985,03/02/1986\n"
    ",Phan Văn Hai,01/05/1960,Nam,,Chi bộ số 1,,,,,\n"                       # no card number
    "050000003,Phan Văn Ba,31/02/1961,Nam,,Chi bộ số 1,,,,,\n"               # no such day
    "050000004,Phan Văn Bốn,01/05/1960,Trai,,Chi bộ số 1,,,,,\n"             # not a gender
    "050000005,Phan Văn Năm,01/05/1960,Nam,12345,Chi bộ số 1,,,,,\n"          # not a phone
    "050000006,Phan Văn Sáu,01/05/1960,Nam,,Chi bộ số 9,,,,,\n"              # no such cell
    "050000007,Phan Văn Bảy,01/05/1960,Nam,,Chi bộ số 1,Nghỉ hưu,,,,\n"       # not a standing
    "050000008,Phan Văn Tám,01/05/1960,Nam,,Chi bộ số 1,,Không,,,\n"          # ineligible, no reason
    "050000009,Phan Văn Chín,01/05/1960,Nam,,Chi bộ số 1,Từ trần,Có,,,\n"     # deceased, yet eligible
    "050000010,Phan Văn Mười,01/05/1960,Nam,,Chi bộ số 1,,,,01/05/1970,01/05/1969\n"  # official before admitted
    "050000011,Phan Văn Mười Một,01/05/1960,Nam,,Chi bộ số 1,,,,,03/02/1986\n"  # official, never admitted
    "050000012,Phan Văn Mười Hai,01/05/1960,Nam,,Chi bộ số 1,,Có,Ốm,,\n"     # eligible, with a reason
    "050000001,Phan Văn Một,01/05/1960,Nam,,Chi bộ số 1,,,,,\n"               # twice in the file
)


async def test_the_registry_console_says_nothing_in_english(system, browser, tmp_path):
    c, admin = system.client, system.auth("city_admin")
    made = await c.post("/api/members/v1/org-units", headers=admin, json={
        "code": "ba-dinh-g1-c2", "name": "Chi bộ số 2", "kind": "cell", "parent": "ba-dinh-g1"})
    assert made.status_code == 201, made.text
    an = (await c.get("/api/members/v1/members", params={"q": "010000001"}, headers=admin)).json()["items"][0]
    asked = await c.post(f"/api/members/v1/members/{an['id']}/corrections",
                         headers=system.auth("member", "ba-dinh-g1-c1", card="010000001"),
                         json={"changes": {"full_name": "Nguyễn Văn Ân", "date_of_birth": "1960-05-02"},
                               "note": "Sai dấu và ngày sinh"})
    assert asked.status_code == 201, asked.text
    async with real_server(system) as base:
        page = await vi_page(browser)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/registry")
        await page.wait_for_selector("#members tbody tr[data-id]")
        await page.wait_for_selector("#corrections tbody tr[data-id]")
        assert await english(page) == []

        # Searching: nobody found, then someone, whose record is opened.
        await page.fill("#q", "Không có ai tên này")
        await page.click("#search-form button")
        await page.wait_for_selector("#members tbody td:has-text('Không tìm thấy')")
        assert await english(page) == []
        await page.fill("#q", "Nguyễn Văn An")
        await page.click("#search-form button")
        await page.locator("#members tr", has_text="Nguyễn Văn An").locator("button.open").click()
        await page.wait_for_selector("#member-name:has-text('Nguyễn Văn An')")
        assert await english(page) == []

        # A transfer asked without a cell or a reason, then confirmed; the server refuses it (the
        # member died meanwhile).
        await page.click("#transfer-form > p > button")
        await page.wait_for_selector("#to-unit-error")
        assert await english(page) == []
        await page.fill("#to-unit", "chi bo so 2")
        await page.click("#to-unit-results button.unit-choice")
        await page.fill("#transfer-reason", "Chuyển nơi cư trú")
        await page.click("#transfer-form > p > button")
        await page.wait_for_selector("#transfer-confirm")
        assert await english(page) == []
        died = await c.post(f"/api/members/v1/members/{an['id']}/status", headers=admin,
                            json={"status": "deceased", "reason": "Từ trần"})
        assert died.status_code == 200, died.text
        await page.click("#transfer-confirm button.yes")
        await page.wait_for_selector("#error:has-text('Đảng viên: không còn sinh hoạt nên không chuyển sinh hoạt được')")
        assert await english(page) == []

        # An import with a row refused for each reason, then a file that is no member sheet.
        upload = tmp_path / "danh-sach.csv"
        upload.write_bytes(REFUSED_ROWS.encode("utf-8-sig"))
        await page.set_input_files("#file", str(upload))
        await page.click("#import-form button")
        await page.wait_for_selector("#import-progress:has-text('Đã nhập: 1')")
        refused = await page.locator("tr.import-error").all_inner_texts()
        assert {r.split("\t")[0] for r in refused} == {str(n) for n in range(3, 15)}
        assert await english(page, "danh-sach.csv") == []
        for name, content in (("ghi-chu.txt", b"khong phai bang tinh"), ("trong.csv", b""),
                              ("thieu-cot.csv", "Số thẻ,Họ và tên\n1,A\n".encode())):
            (tmp_path / name).write_bytes(content)
            await page.set_input_files("#file", str(tmp_path / name))
            await page.click("#import-form button")
            await page.wait_for_selector("#error:has-text('Tệp chưa nhập được')")
            assert await english(page, name, "danh-sach.csv") == []

        # A correction: the record's values beside the proposed ones; a refusal without a reason, then accepted.
        request = page.locator(f'#corrections tr[data-id="{asked.json()["id"]}"]')
        await request.locator("button.reject").click()
        await request.locator("button.send-reject").click()
        await request.locator(".field-error").wait_for()
        assert await english(page) == []
        await request.locator("form.reject-form button.secondary").click()
        await request.locator("button.accept").click()
        await page.wait_for_selector("#corrections-done:has-text('Đã chấp nhận')")
        assert await english(page) == []
        await page.context.close()


async def test_the_editorial_console_says_nothing_in_english(system, browser):
    title = "Lịch tiếp công dân tháng 12"
    async with real_server(system) as base:
        editor = await vi_page(browser)
        await sign_in_as(editor, system, base, "editor", "city", "/console/editorial")
        await editor.wait_for_selector("#desk tbody tr")
        await editor.wait_for_selector("#feeds tbody tr")
        assert await english(editor) == []
        aid = await write(editor, title, "Thường trực Thành ủy **tiếp công dân** vào thứ Năm.",
                          ("ba dinh", "Quận Ba Đình"))
        row = editor.locator(f'#desk tr[data-id="{aid}"]')
        await row.locator("button.do-preview").click()
        await editor.wait_for_selector("#preview:not([hidden])")
        assert await english(editor) == []
        await row.locator("button.do-submit").click()
        await editor.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=submitted]')
        assert await english(editor) == []

        chief = await vi_page(browser)
        await sign_in_as(chief, system, base, "chief_editor", "city", "/console/editorial")
        row = chief.locator(f'#desk tr[data-id="{aid}"]')
        await row.locator("button", has_text="Trả lại").click()
        await row.locator("form.step").wait_for()
        assert await english(chief) == []
        await row.locator("button.do-approve").click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=approved]')
        await row.locator("button", has_text="Hẹn giờ").click()
        await row.locator("form.step").wait_for()
        assert await english(chief) == []
        await row.locator("button.do-publish").click()
        await chief.wait_for_selector(f'#desk tr[data-id="{aid}"][data-status=published]')
        await row.locator("button", has_text="Gỡ tin").click()
        await row.locator("form.step").wait_for()
        await row.locator("button.do-history").click()
        await chief.wait_for_selector("#history li")
        assert await english(chief) == []

        # Sources: an internal address refused; one that publishes at once, waiting; one whose poll failed.
        await chief.fill("#fd-url", "http://169.254.169.254/latest/meta-data/")
        await chief.click("#feed-form button[type=submit]")
        await chief.wait_for_selector("#error:has-text('địa chỉ bị chặn')")
        assert await english(chief, "http://169.254.169.254/latest/meta-data/") == []
        url = "https://tin.sotay.invalid/rss.xml"
        await chief.fill("#fd-url", url)
        await chief.check("#fd-publish")
        await chief.click("#feed-form button[type=submit]")
        await chief.locator("#feeds tr", has_text="tin.sotay.invalid").locator("td.feed-mode.waiting").wait_for()

        async def tried():
            async with system.runtimes["content"].context.engine.connect() as db:
                return (await db.execute(text("SELECT failures > 0 FROM feeds WHERE url = :u"), {"u": url})).scalar()
        await eventually(tried, timeout=15)
        async with system.runtimes["content"].context.engine.begin() as db:
            await db.execute(text("UPDATE feeds SET last_error = 'refused address: tin.sotay.invalid (10.0.0.7) is a "
                                  "private address', next_poll_at = now() + interval '1 hour' WHERE url = :u"), {"u": url})
        await chief.reload()
        await chief.wait_for_selector("#feeds td.feed-error:has-text('địa chỉ bị chặn')")
        assert await english(chief, url, "tin.sotay.invalid") == []
        for page in (editor, chief):
            await page.context.close()


async def test_the_approval_console_says_nothing_in_english(system, browser):
    c, admin = system.client, system.auth("city_admin")
    people = {"matched": ("060000001", "Tạ Văn Khớp"), "details_differ": ("060000002", "Tạ Thị Lệch"),
              "not_eligible": ("060000003", "Tạ Văn Mất"), "duplicate": ("060000004", "Tạ Thị Trùng")}
    await import_registry(c, [registry_row(card, name, "ba-dinh-g1-c1", born="1960-05-01",
                                           **({"status": "deceased", "eligible": False, "reason": "Từ trần"}
                                              if label == "not_eligible" else {}))
                              for label, (card, name) in people.items()], admin)

    async def replicated():
        async with system.runtimes["identity"].context.engine.connect() as db:
            hashes = [system.runtimes["identity"].context.pii_hash(card) for card, _ in people.values()]
            return (await db.execute(text("SELECT count(*) FROM registry_members WHERE card_hash = ANY(:h)"),
                                     {"h": hashes})).scalar() == len(people)
    await eventually(replicated, timeout=30)
    for label, (card, name) in [*people.items(), ("duplicate", people["duplicate"]),
                                ("not_in_registry", ("069999999", "Người Lạ"))]:
        answer = await c.post("/api/identity/v1/registrations", json={
            "party_card_no": card, "full_name": name, "date_of_birth": "1961-01-01" if label == "details_differ"
            else "1960-05-01", "phone": f"09{card[-8:]}", "password": "Mat khau dai du manh", "platform": "web", "consent": CONSENT})
        assert answer.status_code == 202, answer.text
    row = lambda page, label: page.locator(f'#registrations tr[data-card="{people[label][0]}"]').first  # noqa: E731
    async with real_server(system) as base:
        page = await vi_page(browser)
        await sign_in_as(page, system, base, "city_admin", "city", "/console/approvals")  # who sees the stranger
        await page.locator('#registrations tr[data-card="069999999"]').wait_for()
        await expect(page.locator('#registrations tr[data-match="duplicate"]')).to_have_count(1)
        assert await english(page) == []

        # Approving the matched one with one that differs: the refused one says why.
        await page.click("#select-matched")
        await row(page, "details_differ").locator("input.pick").check()
        await page.click("#approve-selected")
        await page.locator("#refused li").wait_for()
        assert await english(page) == []
        # One by one: a mismatch asks first; a member who died, and one not in the registry, are refused.
        await row(page, "details_differ").locator("button.approve").click()
        await row(page, "details_differ").locator(".confirm-mismatch").wait_for()
        for label in ("not_eligible", "not_in_registry"):
            target = page.locator('#registrations tr[data-card="069999999"]') if label == "not_in_registry" \
                else row(page, label)
            await target.locator("button.approve").click()
            await expect(target).to_have_attribute("data-state", "refused")
        duplicate = page.locator('#registrations tr[data-match="duplicate"]')
        await duplicate.get_by_role("button", name="Từ chối", exact=True).click()
        await duplicate.locator("form.reject").wait_for()
        assert await english(page) == []
        # Filtered to nothing.
        await page.select_option("#f-age", "week")
        await page.locator("#registrations tr.empty").wait_for()
        assert await english(page) == []
        await page.context.close()


async def test_the_meetings_console_says_nothing_in_english(system, browser):
    c, cell = system.client, "ba-dinh-g1-c1"
    called = await c.post("/api/content/v1/meetings", headers=system.auth("cell_secretary", cell), json={
        "cell": cell, "starts_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(), "place": "Nhà văn hoá tổ 5",
        "agenda": "Sinh hoạt thường kỳ", "kind": "regular"})
    assert called.status_code == 201, called.text
    mid = called.json()["id"]

    async def content_knows(card):
        async with system.runtimes["content"].context.engine.connect() as db:
            return (await db.execute(text("SELECT count(*) FROM readers WHERE party_card_no = :c"), {"c": card})).scalar()
    await eventually(lambda: content_knows("010000002"), timeout=30)
    answered = await c.post(f"/api/content/v1/meetings/{mid}/attendance", json={"attending": False, "note": "Đi công tác"},
                            headers=system.auth("member", cell, card="010000002", subject="account-010000002"))
    assert answered.status_code == 200, answered.text

    async def move(by):
        async with system.runtimes["content"].context.engine.begin() as db:
            await db.execute(text("UPDATE meetings SET starts_at = now() + :by WHERE id = :id"), {"by": by, "id": mid})
    await move(timedelta(hours=-1))
    async with real_server(system) as base:
        page = await vi_page(browser)
        await sign_in_as(page, system, base, "cell_secretary", cell, "/console/meetings")
        meeting = page.locator(f'article.meeting[data-id="{mid}"]')
        await meeting.wait_for()
        await page.locator("#planning-tiles .tile").first.wait_for()
        assert await english(page) == []

        # Planning: nothing typed, a day that is none, a day past.
        await page.click("#plan-form button[type=submit]")
        await page.wait_for_selector("#m-agenda-error")
        assert await english(page) == []
        await page.fill("#m-date", "31/02/2027")
        await page.fill("#m-time", "25:00")
        await page.fill("#m-place", "Nhà văn hoá tổ 5")
        await page.fill("#m-agenda", "Sinh hoạt thường kỳ")
        await page.click("#plan-form button[type=submit]")
        await page.wait_for_selector("#m-time-error")
        assert await english(page) == []
        await page.fill("#m-date", "01/01/2020")
        await page.fill("#m-time", "08:00")
        await page.click("#plan-form button[type=submit]")
        await page.wait_for_selector("#m-date-error:has-text('đã qua')")
        assert await english(page) == []

        # Recording it: the roll, the library; then the meeting is moved after the record was opened:
        # the refusal is said in Vietnamese.
        await meeting.locator("button.open-record").click()
        await meeting.locator("ul.roll > li").first.wait_for()
        await meeting.locator("ul.documents li").first.wait_for()
        await meeting.locator("input[type=search]").fill("khong co tai lieu nay")
        await meeting.locator(".find-row button").click()
        await meeting.locator("ul.documents li.muted").wait_for()
        assert await english(page, "khong co tai lieu nay") == []
        await move(timedelta(days=1))
        await meeting.locator("button.send-record").click()
        await meeting.locator(".record-error:has-text('chưa bắt đầu')").wait_for()
        assert await english(page, "khong co tai lieu nay") == []
        await page.context.close()


async def test_the_consoles_index_is_in_vietnamese_with_english_behind_the_switch(system, browser):
    """/console/ names each console in Vietnamese only (it showed "Phê duyệt tài khoản — Account
    approval"), each a 44 px target at a phone's width; the switch says them in English."""
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")).new_page()
        await page.goto(f"{base}/console/")
        await expect(page.locator("h1")).to_have_text("Bàn làm việc")
        await expect(page.locator('a[href="/console/approvals"]')).to_have_text("Phê duyệt tài khoản")
        assert await english(page) == []
        assert "Consoles" not in await page.locator("body").inner_text()
        heights = await page.evaluate("""() => [...document.querySelectorAll("ul.links a")]
          .map((a) => a.getBoundingClientRect().height)""")
        assert len(heights) == 9 and min(heights) >= 44, heights
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
        await page.select_option("#lang", "en")
        await expect(page.locator("h1")).to_have_text("Consoles")
        await expect(page.locator('a[href="/console/approvals"]')).to_have_text("Account approval")
        await page.context.close()
