"""Reports of a unit's rollout: a table of the unit and the units under it
(CSV or XLSX), and a one-paragraph summary in the style of the city's press
report, in Vietnamese or English."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from typing import Any

from sotay.kit import spreadsheets

# The table's columns: the unit's name first, its code last (for whoever matches the file to other
# data); each figure under a heading a leader can hand out, in Vietnamese (English with lang=en).
COLUMNS = ("unit_name", "members_total", "members_eligible", "accounts_installed", "accounts_web",
           "accounts_mobile", "accounts_pending", "accounts_approved", "accounts_rejected", "installed_pct_total",
           "installed_pct_eligible", "readers_today", "readers_7d", "trained_people", "training_sessions",
           "unit_code")
PERCENTAGES = frozenset({"installed_pct_total", "installed_pct_eligible"})
HEADINGS = {
    "vi": {"unit_name": "Đơn vị", "members_total": "Tổng số đảng viên", "members_eligible": "Đủ điều kiện cài đặt",
           "accounts_installed": "Đã cài đặt (gồm cả chờ phê duyệt)", "accounts_web": "Cài trên máy tính",
           "accounts_mobile": "Cài trên điện thoại", "accounts_pending": "Đang chờ phê duyệt",
           "accounts_approved": "Đã phê duyệt", "accounts_rejected": "Bị từ chối",
           "installed_pct_total": "Tỷ lệ cài đặt / tổng số", "installed_pct_eligible": "Tỷ lệ cài đặt / đủ điều kiện",
           "readers_today": "Người đọc tin hôm nay", "readers_7d": "Người đọc tin 7 ngày qua",
           "trained_people": "Lượt người được tập huấn", "training_sessions": "Số buổi tập huấn",
           "unit_code": "Mã đơn vị"},
    "en": {"unit_name": "Unit", "members_total": "Party members", "members_eligible": "Eligible to install",
           "accounts_installed": "Installed (incl. awaiting approval)", "accounts_web": "Installed on a computer",
           "accounts_mobile": "Installed on a phone", "accounts_pending": "Awaiting approval",
           "accounts_approved": "Approved", "accounts_rejected": "Rejected",
           "installed_pct_total": "Installed / all members", "installed_pct_eligible": "Installed / eligible",
           "readers_today": "Readers today", "readers_7d": "Readers, last 7 days",
           "trained_people": "People trained", "training_sessions": "Training sessions", "unit_code": "Unit code"},
}
TOTAL = {"vi": "Tổng cộng: {}", "en": "Total: {}"}


def dmy(day: date) -> str:
    return f"{day.day:02d}/{day.month:02d}/{day.year}"


def title(unit: dict[str, Any], as_of: date, lang: str) -> str:
    if lang == "vi":
        return f"Tình hình triển khai Sổ tay đảng viên điện tử — {unit['name']} — số liệu ngày {dmy(as_of)}"
    return f"Electronic Party-member handbook rollout — {unit['name']} — figures as of {dmy(as_of)}"


def file_name(unit: dict[str, Any], as_of: date, fmt: str, lang: str) -> str:
    """E.g. trien-khai-ba-dinh-06-12-2026.xlsx: the unit and the day, as the leader will look for it."""
    return f"{'trien-khai' if lang == 'vi' else 'rollout'}-{unit['code']}-{as_of:%d-%m-%Y}.{fmt}"


def rows(unit: dict[str, Any], items: list[dict[str, Any]], lang: str) -> list[list[Any]]:
    """A row per unit directly under `unit`, then the unit's own (its whole subtree) as the total."""
    below = [[item[c] for c in COLUMNS] for item in items if item["unit_code"] != unit["code"]]
    own = next(item for item in items if item["unit_code"] == unit["code"])
    return [*below, [TOTAL[lang].format(own["unit_name"]) if c == "unit_name" else own[c] for c in COLUMNS]]


def _csv_number(value: Any, column: str, lang: str) -> Any:
    if column in PERCENTAGES:
        text = f"{value:.2f}%"
        return text.replace(".", ",") if lang == "vi" else text
    return value


def as_csv(unit: dict[str, Any], items: list[dict[str, Any]], as_of: date, lang: str = "vi") -> bytes:
    """The table as CSV that Excel opens in columns, Vietnamese intact: UTF-8 with a BOM (no `sep=`
    line: with one, Excel ignores the BOM and garbles the accents), fields separated by the list
    separator of the reader's regional settings, which Excel uses to split a CSV: ';' in Vietnamese
    ones (',' is their decimal sign, so percentages are written 87,50%), ',' in English ones (lang=en,
    87.50%). A title line (the unit and the day), then the headings, then the rows."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if lang == "vi" else ",", lineterminator="\r\n")
    writer.writerow([spreadsheets.csv_cell(title(unit, as_of, lang))])
    writer.writerow([HEADINGS[lang][c] for c in COLUMNS])
    for row in rows(unit, items, lang):
        writer.writerow([spreadsheets.csv_cell(_csv_number(v, c, lang)) for c, v in zip(COLUMNS, row, strict=True)])
    return out.getvalue().encode("utf-8-sig")


def as_xlsx(unit: dict[str, Any], items: list[dict[str, Any]], as_of: date, lang: str = "vi") -> bytes:
    """The table as a workbook: the title in the first row, the headings (bold, wrapped) in the
    second, frozen with the names; percentages as Excel percentages (0.875 shown 87,50%), columns
    wide enough to read, text never a formula (sotay/kit/spreadsheets.py)."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = re.sub(r"[\\/*?:\[\]]", "-", unit["name"])[:31] or "-"
    spreadsheets.text_cell(sheet.cell(1, 1), title(unit, as_of, lang)).font = Font(bold=True, size=14)
    for col, column in enumerate(COLUMNS, 1):
        cell = sheet.cell(2, col, HEADINGS[lang][column])
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    table = rows(unit, items, lang)
    for r, row in enumerate(table, 3):
        for col, (column, value) in enumerate(zip(COLUMNS, row, strict=True), 1):
            cell = sheet.cell(r, col)
            if isinstance(value, str):
                spreadsheets.text_cell(cell, value)
            elif column in PERCENTAGES:
                cell.value = round(value / 100, 6)
                cell.number_format = "0.00%"
            else:
                cell.value = value
                cell.number_format = "#,##0"
            if r == len(table) + 2:
                cell.font = Font(bold=True)
    names = [len(str(row[0])) for row in table] + [len(HEADINGS[lang]["unit_name"])]
    sheet.column_dimensions["A"].width = min(60, max(names) + 4)
    for col in range(2, len(COLUMNS) + 1):
        sheet.column_dimensions[get_column_letter(col)].width = 16
    sheet.row_dimensions[2].height = 45
    sheet.freeze_panes = "B3"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _vi_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def _vi_pct(x: float) -> str:
    return f"{x:.2f}".replace(".", ",")


def summary(unit: dict[str, Any], f: dict[str, Any], units_below: int, as_of: date, lang: str) -> str:
    """E.g. "Đến ngày 01/02/2023, 9 đảng bộ đã cài đặt thành công cho 88.279 đảng viên (đạt 72,87% tổng số
    đảng viên; khoảng 80,16% trên tổng số đảng viên có đủ điều kiện)…"."""
    if lang == "vi":
        who = f"{units_below} đơn vị trực thuộc {unit['name']}" if units_below else unit["name"]
        return (f"Đến ngày {dmy(as_of)}, {who} đã cài đặt thành công cho "
                f"{_vi_int(f['accounts_installed'])} đảng viên (đạt {_vi_pct(f['installed_pct_total'])}% tổng số "
                f"đảng viên; khoảng {_vi_pct(f['installed_pct_eligible'])}% trên tổng số đảng viên có đủ điều kiện), "
                f"trong đó {_vi_int(f['accounts_web'])} đảng viên cài đặt trên máy tính, "
                f"{_vi_int(f['accounts_mobile'])} đảng viên cài đặt trên điện thoại; "
                f"{_vi_int(f['accounts_pending'])} đảng viên đã đăng ký, đang chờ phê duyệt.")
    who = f"the {units_below} units under {unit['name']}" if units_below else unit["name"]
    return (f"As of {as_of.day} {as_of.strftime('%B')} {as_of.year}, {who} had installed the handbook for "
            f"{f['accounts_installed']:,} members ({f['installed_pct_total']:.2f}% of all members, about "
            f"{f['installed_pct_eligible']:.2f}% of eligible ones): {f['accounts_web']:,} on computers and "
            f"{f['accounts_mobile']:,} on mobile phones; {f['accounts_pending']:,} registered and waiting for "
            f"approval.")
