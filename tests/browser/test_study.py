"""Study and self-testing (học tập nghị quyết, issue 20) in a real browser, in Vietnamese: an editor
writes a study topic with the resolution from the library and a quiz in the editorial console, and
another chief editor publishes it; a member on a phone (390 px) opens it from the handbook's menu,
takes the quiz one question at a time, sees the score and the right answers with why, and takes it
again; the unit admin sees, per cell, how many completed it and the average, never a member's score,
and the cell's secretary who has not completed it yet. Targets are 44 px; screenshots at 390 and
1366 px."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.conftest import screenshot, sign_in_as
from tests.browser.test_consoles_in_vietnamese import english
from tests.browser.test_handbook import member_account, no_english, sign_in, small_targets
from tests.support.system import eventually, import_registry, real_server, registry_row

pytestmark = pytest.mark.integration

CELL = "ba-dinh-g1-c1"
TITLE = "Học tập Nghị quyết 15-NQ/TU về xây dựng Đảng"
EXPLANATION = "Nghị quyết 15-NQ/TU tập trung vào công tác xây dựng, chỉnh đốn Đảng."
# conftest's MEMBERS, and a fourth member of the cell who will not take the quiz.
AN, BINH, CUONG = "010000001", "010000002", "010000003"
DUNG = ("010000004", "Phạm Thị Dung")


async def console(browser, system, base: str, role: str, unit: str, *, person: str = "", width: int = 1366):
    context = await browser.new_context(viewport={"width": width, "height": 900}, locale="vi-VN",
                                        timezone_id="Asia/Ho_Chi_Minh")
    page = await context.new_page()
    await sign_in_as(page, system, base, role, unit, "/console/editorial", person=person)
    return page


async def fill_question(page, i: int, prompt: str, options: list[str], right: int, explanation: str = "") -> None:
    q = f"#st-q{i}"
    await page.fill(f"{q}-prompt", prompt)
    while await page.locator(f"{q}-options input.right-choice").count() > len(options):  # 4 options to begin with
        await page.locator(f"{q}-options button.unit-remove").last.click()
    for j, option in enumerate(options):
        await page.fill(f"{q}-o{j}", option)
    if right is not None:
        await page.check(f"{q}-right{right}")
    if explanation:
        await page.fill(f"{q}-explanation", explanation)


async def test_an_editor_publishes_a_quiz_a_member_takes_it_and_the_unit_sees_completion(system, browser):
    c = system.client
    await import_registry(c, [registry_row(*DUNG, CELL, born="1960-05-01")], system.auth("city_admin"))
    added = await c.post("/api/content/v1/documents", headers=system.auth("editor", "ba-dinh", subject="ed-bd"),
                         data={"title": "Nghị quyết về công tác xây dựng Đảng", "kind": "resolution",
                               "number": "15-NQ/TU", "issued_on": "2023-03-01", "issuing_body": "Thành ủy Hà Nội",
                               "unit": "ba-dinh"},
                         files={"file": ("nq-15.txt", "Toàn văn nghị quyết".encode(), "text/plain")})
    assert added.status_code == 201, added.text
    await member_account(system, AN, "Nguyễn Văn An")

    async with real_server(system) as base:
        # The editor writes the topic, its document and two questions; a missing right answer is said.
        editor = await console(browser, system, base, "editor", "ba-dinh")
        await expect(editor.locator("#st-audience-picker li[data-code=ba-dinh]")).to_be_visible()
        await editor.fill("#st-title", TITLE)
        await editor.fill("#st-description", "Đồng chí đọc nghị quyết rồi làm bài kiểm tra 2 câu.")
        await editor.locator("#st-documents").fill("15-NQ")
        await editor.locator("#st-documents-picker button.unit-choice", has_text="15-NQ/TU").click()
        await fill_question(editor, 0, "Nghị quyết 15-NQ/TU bàn về nội dung gì?",
                            ["Chuyển đổi số", "Xây dựng, chỉnh đốn Đảng", "Giao thông đô thị"], 1, EXPLANATION)
        await editor.click("#st-add-question")
        await fill_question(editor, 1, "Chi bộ học tập nghị quyết vào quý nào?", ["Quý I", "Quý II"], None)
        await editor.click("#st-save")
        await expect(editor.locator("#st-q1-options-error")).to_have_text("Đề nghị đánh dấu phương án đúng.")
        await editor.check("#st-q1-right0")
        await editor.click("#st-save")
        await expect(editor.locator("#study-done")).to_have_text("Đã lưu bản nháp chuyên đề.")
        row = editor.locator("#study-desk tr", has_text=TITLE)
        await expect(row).to_contain_text("Bản nháp")
        await expect(row).to_contain_text("Chờ tổng biên tập đăng.")
        assert await english(editor, TITLE) == []
        await screenshot(editor, "study-console-editor")

        # Another chief editor publishes it.
        chief = await console(browser, system, base, "chief_editor", "ba-dinh", person="tong-bien-tap")
        row = chief.locator("#study-desk tr", has_text=TITLE)
        await row.locator("button.do-publish").click()
        await expect(chief.locator("#study-done")).to_have_text("Đã đăng chuyên đề cho đảng viên.")
        await expect(chief.locator("#study-desk tr", has_text=TITLE)).to_contain_text("Đã đăng ngày")

        # A member on a phone: the menu's "Học tập", the topic, its document, the quiz one question at a time.
        phone = await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")
        page = await phone.new_page()
        await sign_in(page, base, AN)
        await page.click('#nav a[href="#study"]')
        topic = page.locator("article.topic", has_text=TITLE)
        await expect(topic).to_contain_text("Chưa làm bài")
        await expect(topic).to_contain_text("2 câu hỏi · 1 tài liệu")
        await topic.locator("h3 a").click()
        await expect(page.locator("#topic-title")).to_have_text(TITLE)
        await expect(page.locator("ul.documents li")).to_contain_text("Nghị quyết về công tác xây dựng Đảng")
        await expect(page.locator("ul.documents li")).to_contain_text("15-NQ/TU · Thành ủy Hà Nội · 01/03/2023")
        async with page.expect_download() as downloading:
            await page.locator("ul.documents button").click()
        assert (await downloading.value).suggested_filename == "nq-15.txt"
        await page.click("#quiz-start")
        await expect(page.locator(".quiz-progress")).to_contain_text("Câu 1/2")
        await page.click("#quiz-next")  # nothing chosen yet
        await expect(page.locator("#quiz-error")).to_have_text("Đề nghị đồng chí chọn một đáp án.")
        assert EXPLANATION not in await page.locator("body").inner_text(), "no answer key before submitting"
        await no_english(page)
        assert await small_targets(page) == []
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
        await page.locator("label.option", has_text="Xây dựng, chỉnh đốn Đảng").click()
        await screenshot(page, "study-handbook-question")
        await page.click("#quiz-next")
        await expect(page.locator(".quiz-progress")).to_contain_text("Câu 2/2")
        await page.click("#quiz-prev")  # back: the answer is still chosen
        await expect(page.locator("label.option", has_text="Xây dựng, chỉnh đốn Đảng").locator("input")).to_be_checked()
        await page.click("#quiz-next")
        await page.locator("label.option", has_text="Quý II").click()
        await expect(page.locator("#quiz-next")).to_have_text("Nộp bài")
        await page.click("#quiz-next")
        await expect(page.locator("#score")).to_have_text("Đồng chí trả lời đúng 1/2 câu (50,00%).")
        review = page.locator("ol.review > li")
        await expect(review.nth(0)).to_have_attribute("data-right", "true")
        await expect(review.nth(0)).to_contain_text(f"Giải thích: {EXPLANATION}")
        await expect(review.nth(1)).to_have_attribute("data-right", "false")
        await expect(review.nth(1).locator("li.correct")).to_contain_text("Quý I")
        await expect(review.nth(1).locator("li.chosen")).to_contain_text("Đồng chí chọn: chưa đúng")
        await no_english(page)
        assert await small_targets(page) == []
        assert await page.evaluate("() => document.documentElement.scrollWidth") <= 390
        await screenshot(page, "study-handbook-result")

        # Again, all right this time: the best score is kept.
        await page.click("#quiz-retake")
        await page.locator("label.option", has_text="Xây dựng, chỉnh đốn Đảng").click()
        await page.click("#quiz-next")
        await page.locator("label.option").filter(has_text=re.compile(r"^Quý I$")).click()
        await page.click("#quiz-next")
        await expect(page.locator("#score")).to_have_text("Đồng chí trả lời đúng 2/2 câu (100,00%).")
        await expect(page.locator("#best")).to_have_text("Điểm cao nhất của đồng chí: đúng 2/2 câu. Đã làm 2 lần.")
        await page.click('#nav a[href="#study"]')
        await expect(page.locator("article.topic", has_text=TITLE)).to_contain_text("Đã làm bài: đúng 2/2 câu")
        await screenshot(page, "study-handbook-list")

        # Two more members of the cell take it (on their own phones); the fourth does not.
        topic_id = await topic.get_attribute("data-id")
        for card, answers in ((BINH, [1, 1]), (CUONG, [0, 0])):
            taken = await c.post(f"/api/content/v1/study/topics/{topic_id}/answers", json={"answers": answers},
                                 headers=system.auth("member", CELL, card=card, subject=f"account-{card}"))
            assert taken.status_code == 200, taken.text

        # The unit admin: the completion per cell only, counts and the average, no one's score or name.
        admin = await console(browser, system, base, "unit_admin", "ba-dinh")
        await expect(admin.locator("header.bar h1")).to_have_text("Học tập nghị quyết")
        for hidden in ("#study", "#desk", "#feeds"):
            await expect(admin.locator(hidden)).to_be_hidden()
        cell = admin.locator("#completion tr[data-cell=ba-dinh-g1-c1]")
        await expect(cell).to_contain_text("Chi bộ số 1")
        assert [await td.inner_text() for td in await cell.locator("td").all()] == [
            "Chi bộ số 1", "4", "3", "75,00%", "66,67%"]
        await expect(admin.locator("#cp-summary")).to_have_text(
            "Toàn đơn vị: 3/4 đảng viên đã làm bài (75,00%); điểm trung bình 66,67%.")
        shown = await admin.locator("body").inner_text()
        assert not any(name in shown for name in ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung"))
        assert await english(admin) == []
        assert await small_targets(admin) == []
        await screenshot(admin, "study-console-completion")

        # The cell's secretary: who has not completed it yet, by name (never a score).
        secretary = await console(browser, system, base, "cell_secretary", CELL, width=390)
        missing = secretary.locator("#completion tr[data-cell=ba-dinh-g1-c1] td.missing")
        await expect(missing).to_have_text("Phạm Thị Dung")
        assert await english(secretary) == []
        assert await small_targets(secretary) == []
        assert await secretary.evaluate("() => document.documentElement.scrollWidth") <= 390
        await screenshot(secretary, "study-console-secretary")

        async def told():
            answer = (await c.get("/api/content/v1/notices", headers=system.auth("member", CELL, card=AN))).json()
            return [n for n in answer["items"] if n["kind"] == "study"]
        assert (await eventually(told, timeout=15))[0]["title"] == TITLE
        for context in (editor.context, chief.context, phone, admin.context, secretary.context):
            await context.close()
