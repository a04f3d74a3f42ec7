"""The registry console's reconciliation with the national database (issue 21): a unit admin uploads
an export, sees the counts per unit (by name) with the date dd/mm/yyyy, downloads the report,
applies it after confirming in the page, and is told what was done; a bad file lists its rows and
columns in Vietnamese. At 1366 px and 390 px, screenshots kept."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.async_api import expect

from services.members.adapters.import_files import write_csv
from sotay.kit.clock import hanoi_day
from tests.browser.conftest import MEMBERS, sign_in_as
from tests.support.system import real_server, registry_row

pytestmark = pytest.mark.integration

SHOTS = Path("/tmp/shots/reconcile")
PHONE, DESKTOP = {"width": 390, "height": 844}, {"width": 1366, "height": 900}


async def shoot(page, name: str) -> None:
    """Screenshots at both widths; neither scrolls sideways."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, size in (("1366", DESKTOP), ("390", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
        overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} at {label} px scrolls sideways by {overflow} px"
    await page.set_viewport_size(DESKTOP)


def export() -> bytes:
    rows = [registry_row(card, name, "ba-dinh-g1-c1", born="1960-05-01") for card, name in MEMBERS]
    rows[0]["full_name"] = "Nguyễn Văn Ân"                      # renamed in the national database
    del rows[2]                                                  # not in it: reported, not deleted
    rows.append(registry_row("010000009", "Đặng Thị Mới", "ba-dinh-g1-c1", born="1990-09-09"))
    return write_csv(rows)


async def test_a_unit_admin_compares_downloads_and_applies_an_export(system, browser, tmp_path):
    upload = tmp_path / "csdl-dang-vien-3.0.csv"
    upload.write_bytes(export())
    async with real_server(system) as base:
        page = await (await browser.new_context(viewport=PHONE, locale="vi-VN", accept_downloads=True)).new_page()
        await sign_in_as(page, system, base, "unit_admin", "ba-dinh", "/console/registry")
        await expect(page.locator("#reconcile")).to_be_visible()
        await page.set_input_files("#rc-file", str(upload))
        await expect(page.locator("#rc-file-name")).to_have_text("csdl-dang-vien-3.0.csv")
        await page.click("#rc-form button")
        await expect(page.locator("#rc-units")).to_be_visible()
        heading = await page.locator("#rc-result h3").inner_text()
        assert hanoi_day().strftime("%d/%m/%Y") in heading and "csdl-dang-vien-3.0.csv" in heading
        rows = await page.locator("#rc-units tbody tr").all_inner_texts()
        first = rows[0].replace("\n", "\t")
        assert "Đảng bộ phường Điện Biên" in first  # the unit by name
        await expect(page.locator("#reconcile")).to_contain_text("không bị xoá")
        await shoot(page, "compared")

        async with page.expect_download() as downloading:
            await page.click("#rc-report-xlsx")
        book = load_workbook(io.BytesIO(Path(await (await downloading.value).path()).read_bytes()))
        assert book.sheetnames == ["Tổng hợp", "Chi tiết"]
        assert book["Chi tiết"]["A1"].value.endswith(hanoi_day().strftime("%d/%m/%Y"))

        await page.click("#rc-apply")
        await expect(page.locator("#rc-confirm")).to_contain_text("Áp dụng 2 thay đổi")
        await shoot(page, "confirm")
        await page.click("#rc-confirm button.yes")
        await expect(page.locator("#rc-done")).to_contain_text("cập nhật 2 đảng viên, ghi 2 sự kiện")
        await expect(page.locator("#rc-apply")).to_have_count(0)
        await shoot(page, "applied")

        # The same export again: nothing to apply.
        await page.set_input_files("#rc-file", str(upload))
        await page.click("#rc-form button")
        await expect(page.locator("#rc-done")).to_contain_text("Không có gì cần áp dụng")

        bad = tmp_path / "sai.csv"
        bad.write_bytes("Số thẻ đảng viên,Họ và tên,Ngày sinh,Chi bộ\n010000001,Nguyễn Văn An,31/02/1960,"
                        "ba-dinh-g1-c1\n".encode("utf-8-sig"))
        await page.set_input_files("#rc-file", str(bad))
        await page.click("#rc-form button")
        await expect(page.locator("#rc-errors")).to_contain_text("Ngày sinh")
        await expect(page.locator("#rc-errors")).to_contain_text("ngày có thật")
        await shoot(page, "refused")
        await page.context.close()
