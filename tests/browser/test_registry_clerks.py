"""The registry console as clerks use it (issue 18, "Editors and clerks"): a file headed in
Vietnamese with dates written day/month/year is imported, its refused rows listed in row order
under the file's own column names and in Vietnamese, and a template is offered; search results
tell namesakes apart (birth year, cell by name) and say when there are more; opening a record
takes the reader to it, also on a phone; a transfer (the cell chosen by name) and a standing of
deceased are confirmed in the page with a reason; a correction shows the record's value beside
the proposed one, and its refusal's reason is asked in the page: never a prompt() box."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from playwright.async_api import expect
from openpyxl import load_workbook

from services.members.adapters.import_files import write_csv
from tests.browser.conftest import sign_in_as
from tests.support.system import real_server

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots/registry")
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1366, "height": 900}


async def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("1366", DESKTOP), ("390", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)


async def cell_two(system) -> None:
    made = await system.client.post("/api/members/v1/org-units", headers=system.auth("city_admin"), json={
        "code": "ba-dinh-g1-c2", "name": "Chi bộ số 2", "kind": "cell", "parent": "ba-dinh-g1"})
    assert made.status_code == 201 or "already used" in made.text, made.text


def no_dialogs(page) -> list[str]:
    seen: list[str] = []

    async def dismiss(dialog):
        seen.append(dialog.message)
        await dialog.dismiss()
    page.on("dialog", dismiss)
    return seen


CLERKS_CSV = (
    "Số thẻ đảng viên,Họ và tên,Ngày sinh,Giới tính,Số điện thoại,Chi bộ,Ngày vào Đảng,Ngày chính thức\n"
    "020000001,Đỗ Văn Một,01/05/1960,Nam,,Chi bộ số 2,03/02/1985,03/02/1986\n"
    "010000001,Nguyễn Văn An,01/05/1960,Nam,,Chi bộ số 1,,\n"      # already in the registry
    "020000003,Trần Thị Ba,31/02/1961,Nữ,,Chi bộ số 2,,\n"         # no 31 February
    "020000004,Lê Văn Bốn,04/04/1964,Nam,12345,Chi bộ số 2,,\n"     # not a phone
)


async def test_a_file_headed_in_vietnamese_is_imported_and_its_errors_are_in_row_order(system, browser, tmp_path):
    await cell_two(system)
    upload = tmp_path / "danh-sach.csv"
    upload.write_bytes(CLERKS_CSV.encode("utf-8-sig"))
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport=DESKTOP, locale="vi-VN", accept_downloads=True)).new_page()
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/registry")
        await page.wait_for_selector("#members tbody tr")

        async with page.expect_download() as downloading:
            await page.click("#template")
        template = await (await downloading.value).path()
        header = next(load_workbook(io.BytesIO(Path(template).read_bytes()), read_only=True).worksheets[0]
                      .iter_rows(values_only=True))
        assert header[:3] == ("Số thẻ đảng viên", "Họ và tên", "Ngày sinh")

        await page.set_input_files("#file", str(upload))
        assert await page.inner_text("#file-name") == "danh-sach.csv"  # beside our button, not the browser's English one
        await page.click("#import-form button")
        await page.wait_for_selector("#import-progress:has-text('Đã nhập: 1')")
        refused = await page.locator("tr.import-error").all_inner_texts()
        assert [r.split("\t")[0] for r in refused] == ["3", "4", "5"]
        assert "Số thẻ đảng viên" in refused[0] and "đã có trong hồ sơ" in refused[0]
        assert "Ngày sinh" in refused[1] and "ngày có thật" in refused[1]
        assert "Số điện thoại" in refused[2]
        assert not any(word in " ".join(refused) for word in ("must", "is already", "party_card_no", "phone"))
        await shoot(page, "import")

        missing = tmp_path / "thieu-cot.csv"
        missing.write_bytes("Số thẻ,Họ và tên\n1,A\n".encode())
        await page.set_input_files("#file", str(missing))
        await page.click("#import-form button")
        await page.wait_for_selector("#error:has-text('thiếu cột bắt buộc: Ngày sinh, Chi bộ')")
        await page.context.close()


async def test_namesakes_are_told_apart_and_an_opened_record_is_in_view_on_a_phone(system, browser, tmp_path):
    await cell_two(system)
    namesakes = [{"party_card_no": f"03{i:07d}", "full_name": "Phạm Thị Hà", "date_of_birth": f"19{50 + i}-01-01",
                  "unit": "ba-dinh-g1-c2" if i % 2 else "ba-dinh-g1-c1"} for i in range(25)]
    imported = await system.client.post("/api/members/v1/imports", params={"wait": "true"},
                                        files={"file": ("ha.csv", write_csv(namesakes), "text/csv")},
                                        headers=system.auth("city_admin"))
    assert imported.json()["imported"] == 25, imported.text
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport=PHONE, locale="vi-VN")).new_page()
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/registry")
        await page.wait_for_selector("#members tbody tr")
        await page.fill("#q", "pham thi ha")
        await page.click("#search-form button")
        # The search's page, not the unit's list shown before it (which may have had more rows too).
        await expect(page.locator("#members tbody tr").nth(19)).to_contain_text("Phạm Thị Hà")
        await expect(page.locator("#members tbody tr").first).to_contain_text("Phạm Thị Hà")
        await page.wait_for_selector("#more:visible")
        assert "Còn thêm" in await page.inner_text("#more-note")
        shown = await page.locator("#members tbody tr").all_inner_texts()
        assert len(shown) == 20
        assert all(re.search(r"\n19[5-7]\d\nChi bộ số [12]\n", row) for row in shown), shown
        await page.click("#more")
        await page.locator("#members tbody tr").nth(24).wait_for()
        assert await page.locator("#members tbody tr").count() == 25
        assert await page.locator("#more").is_hidden()
        assert "Chi bộ số 2" in await page.locator("#members tbody tr", has_text="030000001").inner_text()

        await page.locator("#members tbody tr", has_text="030000001").locator("button.open").click()
        await page.wait_for_selector("#member-name:has-text('Phạm Thị Hà')")
        top = await page.evaluate("document.getElementById('member-name').getBoundingClientRect().top")
        assert 0 <= top < PHONE["height"] / 2, top
        assert await page.inner_text("dd[data-field=born]") == "01/01/1951"
        assert await page.inner_text("dd[data-field=unit]") == "Chi bộ số 2"
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / "opened-390-viewport.png"))  # what the phone shows after the tap
        await shoot(page, "search")
        await page.context.close()


async def test_transfer_and_deceased_are_confirmed_with_a_reason_and_a_refusal_is_asked_in_the_page(system, browser):
    await cell_two(system)
    c, admin = system.client, system.auth("city_admin")
    cuong = (await c.get("/api/members/v1/members", params={"q": "010000003"}, headers=admin)).json()["items"][0]
    binh = (await c.get("/api/members/v1/members", params={"q": "010000002"}, headers=admin)).json()["items"][0]
    asked = await c.post(f"/api/members/v1/members/{cuong['id']}/corrections",
                         headers=system.auth("member", "ba-dinh-g1-c1", card="010000003"),
                         json={"changes": {"full_name": "Lê Văn Cương"}, "note": "Sai dấu"})
    assert asked.status_code == 201, asked.text
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport=DESKTOP, locale="vi-VN")).new_page()
        dialogs = no_dialogs(page)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/registry")
        await page.fill("#q", "010000002")
        await page.click("#search-form button")
        await page.locator("#members tr", has_text="Trần Thị Bình").locator("button.open").click()
        await page.wait_for_selector("#member-name:has-text('Trần Thị Bình')")

        # Transfer: the cell by name, a reason, then a confirmation naming both cells.
        await page.fill("#to-unit", "chi bo so")
        await page.wait_for_selector("#to-unit-results button.unit-choice")
        assert await page.locator("#to-unit-results").inner_text() == "Chi bộ số 2"  # not the cell they are in
        await page.click("#to-unit-results button.unit-choice")
        await page.click("#transfer-form > p > button")
        assert "Đề nghị ghi lý do" in await page.inner_text("#transfer-form")
        await page.fill("#transfer-reason", "Chuyển nơi cư trú")
        await page.click("#transfer-form > p > button")
        confirm = await page.inner_text("#transfer-confirm")
        assert "Chi bộ số 1" in confirm and "Chi bộ số 2" in confirm and "Chuyển nơi cư trú" in confirm
        assert (await c.get(f"/api/members/v1/members/{binh['id']}", headers=admin)).json()["unit"] == "ba-dinh-g1-c1"
        await shoot(page, "transfer-confirm")
        await page.click("#transfer-confirm button.yes")
        await page.wait_for_selector("dd[data-field=unit]:has-text('Chi bộ số 2')")

        # Deceased: a reason, a confirmation; cancelling changes nothing.
        await page.select_option("#new-status", "deceased")
        await page.click("#status-form > p > button")
        assert "Đề nghị ghi lý do" in await page.inner_text("#status-form")
        await page.fill("#status-reason", "Từ trần ngày 01/12/2026")
        await page.click("#status-form > p > button")
        assert "Từ trần" in await page.inner_text("#status-confirm")
        await page.click("#status-confirm button.no")
        assert await page.locator("#status-confirm").count() == 0
        assert (await c.get(f"/api/members/v1/members/{binh['id']}", headers=admin)).json()["status"] == "active"
        await page.click("#status-form > p > button")
        await page.click("#status-confirm button.yes")
        await page.wait_for_selector("dd[data-field=status]:has-text('Từ trần')")

        # A correction: the record's value beside the proposed one; refusing asks why, in the page.
        request = page.locator(f'#corrections tr[data-id="{asked.json()["id"]}"]')
        assert "Lê Văn Cường" in await request.locator(".current").inner_text()
        assert "Lê Văn Cương" in await request.locator(".proposed").inner_text()
        await request.locator("button.reject").click()
        await request.locator("button.send-reject").click()
        assert "Đề nghị ghi lý do" in await request.inner_text()
        await request.locator("textarea.reject-reason").fill("Hồ sơ gốc ghi Cường")
        await shoot(page, "corrections")
        await request.locator("button.send-reject").click()
        await request.wait_for(state="detached")
        assert "Đã từ chối" in await page.inner_text("#corrections-done")
        mine = (await c.get("/api/members/v1/me/corrections",
                            headers=system.auth("member", "ba-dinh-g1-c1", card="010000003"))).json()["items"]
        assert (mine[0]["status"], mine[0]["decision_reason"]) == ("rejected", "Hồ sơ gốc ghi Cường")
        assert dialogs == []
        await page.context.close()


# Members who left the Party's rolls: (card, name, standing, what the record says of it).
LEFT = [("040000001", "Hoàng Văn Khuất", "deceased", "Đảng viên đã từ trần"),
        ("040000002", "Vũ Thị Xoá", "removed", "Đảng viên đã bị xoá tên"),
        ("040000003", "Đinh Văn Đi", "transferred_out", "Đảng viên đã chuyển sinh hoạt đi")]


async def test_a_member_who_left_is_shown_without_a_transfer_and_a_mistaken_standing_can_be_put_right(system, browser):
    from tests.support.system import import_registry, registry_row

    c, admin = system.client, system.auth("city_admin")
    await import_registry(c, [registry_row(card, name, "ba-dinh-g1-c1", status=status, eligible=False, reason=status)
                              for card, name, status, _ in LEFT], admin)
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport=DESKTOP, locale="vi-VN")).new_page()
        dialogs = no_dialogs(page)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/registry")
        for card, name, _, said in LEFT:
            await page.fill("#q", card)
            await page.click("#search-form button")
            await page.locator("#members tr", has_text=name).locator("button.open").click()
            await page.wait_for_selector(f"#member-name:has-text('{name}')")
            # The server refuses to transfer them: no form offers it; the record says why.
            assert await page.locator("#transfer-form").count() == 0
            why = await page.inner_text("#member-left")
            assert why.startswith(f"{said}: không chuyển sinh hoạt được nữa."), why
            assert "Đổi tình trạng" in why  # what the server still takes: a standing recorded by mistake put right
            assert await page.locator("#status-form").is_visible()
        await shoot(page, "left")

        # Recorded as deceased by mistake: put back in active standing, with a reason and a confirmation.
        card, name, _, _ = LEFT[0]
        await page.fill("#q", card)
        await page.click("#search-form button")
        await page.locator("#members tr", has_text=name).locator("button.open").click()
        await page.wait_for_selector(f"#member-name:has-text('{name}')")
        await page.select_option("#new-status", "active")
        await page.click("#status-form > p > button")
        assert "Đề nghị ghi lý do" in await page.inner_text("#status-form")
        await page.fill("#status-reason", "Ghi nhầm, đồng chí vẫn sinh hoạt")
        await page.click("#status-form > p > button")
        await page.click("#status-confirm button.yes")
        await page.wait_for_selector("dd[data-field=status]:has-text('Đang sinh hoạt')")
        assert await page.locator("#member-left").count() == 0 and await page.locator("#transfer-form").is_visible()
        record = (await c.get("/api/members/v1/members", params={"q": card}, headers=admin)).json()["items"][0]
        assert (record["status"], record["eligible"]) == ("active", True)
        assert dialogs == [] and await page.inner_text("#error") == ""
        await page.context.close()


async def test_a_temporary_transfer_has_an_end_date_shown_on_the_record_and_can_end_early(system, browser):
    """Issue 20: a temporary transfer asks for its end date (dd/mm/yyyy, said beside the field when
    missing or not real); the record then says where the member attends and until when, and the
    stay can end early with a reason."""
    from datetime import timedelta

    from sotay.kit.clock import hanoi_day

    await cell_two(system)
    until = hanoi_day() + timedelta(days=45)
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport={"width": 390, "height": 844}, locale="vi-VN")).new_page()
        dialogs = no_dialogs(page)
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/registry")
        await page.fill("#q", "010000001")
        await page.click("#search-form button")
        await page.locator("#members tr", has_text="Nguyễn Văn An").locator("button.open").click()
        await page.wait_for_selector("#member-name:has-text('Nguyễn Văn An')")
        await page.fill("#to-unit", "chi bo so 2")
        await page.click("#to-unit-results button.unit-choice")
        await page.select_option("#transfer-kind", "temporary")
        await page.fill("#transfer-reason", "Đi học tập trung")
        await page.fill("#transfer-until", "31/02/2027")
        await page.click("#transfer-form > p > button")
        assert "ngày kết thúc có thật" in await page.inner_text("#transfer-form")
        await page.fill("#transfer-until", f"{until:%d/%m/%Y}")
        await page.click("#transfer-form > p > button")
        assert f"Đến ngày {until:%d/%m/%Y} đồng chí trở về chi bộ." in await page.inner_text("#transfer-confirm")
        await page.click("#transfer-confirm button.yes")
        away = page.locator("#member-away")
        await away.wait_for()
        await page.wait_for_function("() => !document.querySelector('#member-away strong').textContent.includes('…')")
        assert f"Đang sinh hoạt tạm thời tại Chi bộ số 2 đến ngày {until:%d/%m/%Y}." in await away.inner_text()
        await shoot(page, "temporary-stay")
        await page.click("#come-back-form button")
        assert "Đề nghị ghi lý do" in await page.inner_text("#come-back-form")
        await page.fill("#come-back-reason", "Kết thúc khoá học sớm")
        await page.click("#come-back-form button")
        await expect_gone(page, "#member-away")
        await expect(page.locator("#member-done")).to_contain_text("đã trở về sinh hoạt tại chi bộ")
        assert dialogs == []
        await page.context.close()


async def expect_gone(page, selector: str) -> None:
    await page.wait_for_selector(selector, state="detached")
