"""The reports' rules (services/metrics/domain/reports.py)."""

import csv
import io
from datetime import date

from services.metrics.domain.reports import COLUMNS, HEADINGS, as_csv, as_xlsx, file_name, rows, summary

F = {"accounts_installed": 88279, "installed_pct_total": 72.87, "installed_pct_eligible": 80.16,
     "accounts_web": 1234, "accounts_mobile": 87045, "accounts_pending": 5}
UNIT = {"code": "city", "name": "Thành phố Hà Nội"}
DAY = date(2026, 12, 6)


def item(code: str, name: str = "") -> dict:
    return {c: (code if c == "unit_code" else name or code if c == "unit_name" else
                87.5 if c == "installed_pct_eligible" else 1) for c in COLUMNS}


def test_the_rows_are_the_units_below_then_the_unit_as_the_total():
    table = rows(UNIT, [item("city", "Thành phố Hà Nội"), item("a"), item("b")], "vi")
    assert [r[0] for r in table] == ["a", "b", "Tổng cộng: Thành phố Hà Nội"]
    assert [r[-1] for r in table] == ["a", "b", "city"] and len(table[0]) == len(COLUMNS)


def test_the_csv_opens_in_columns_in_a_vietnamese_excel():
    """UTF-8 with a BOM and no `sep=` line (Excel would then ignore the BOM); ';' between fields
    and percentages with a decimal comma, as Vietnamese regional settings read them; a title line."""
    body = as_csv(UNIT, [item("city", "Thành phố Hà Nội"), item("a", "Quận Ba Đình")], DAY)
    assert body.startswith(b"\xef\xbb\xbf") and b"sep=" not in body
    table = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert table[0] == ["Tình hình triển khai Sổ tay đảng viên điện tử — Thành phố Hà Nội — số liệu ngày 06/12/2026"]
    assert table[1][:4] == ["Đơn vị", "Tổng số đảng viên", "Đủ điều kiện cài đặt", "Đã cài đặt (gồm cả chờ phê duyệt)"]
    assert table[2][0] == "Quận Ba Đình" and table[2][COLUMNS.index("installed_pct_eligible")] == "87,50%"
    english = list(csv.reader(io.StringIO(as_csv(UNIT, [item("city")], DAY, "en").decode("utf-8-sig"))))
    assert english[1] == [HEADINGS["en"][c] for c in COLUMNS] and english[2][COLUMNS.index("installed_pct_eligible")] == "87.50%"


def test_the_workbook_has_a_title_headings_percentages_and_widths():
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(as_xlsx(UNIT, [item("city", "Thành phố Hà Nội"), item("a")], DAY))).active
    assert sheet["A1"].value.endswith("Thành phố Hà Nội — số liệu ngày 06/12/2026")
    assert [c.value for c in sheet[2]] == [HEADINGS["vi"][c] for c in COLUMNS]
    pct = sheet.cell(3, COLUMNS.index("installed_pct_eligible") + 1)
    assert (pct.value, pct.number_format) == (0.875, "0.00%")
    assert sheet.column_dimensions["A"].width >= 20 and sheet.freeze_panes == "B3"


def test_the_file_name_carries_the_unit_and_the_day():
    assert file_name(UNIT, DAY, "xlsx", "vi") == "trien-khai-city-06-12-2026.xlsx"
    assert file_name(UNIT, DAY, "csv", "en") == "rollout-city-06-12-2026.csv"


def test_the_vietnamese_summary_writes_numbers_the_vietnamese_way():
    text = summary(UNIT, F, 9, date(2023, 2, 1), "vi")
    assert text.startswith("Đến ngày 01/02/2023, 9 đơn vị trực thuộc Thành phố Hà Nội đã cài đặt thành công cho "
                           "88.279 đảng viên (đạt 72,87% tổng số")
    assert "80,16%" in text and "5 đảng viên đã đăng ký" in text


def test_the_english_summary_names_the_month_and_a_unit_alone_when_none_below():
    text = summary(UNIT, F, 0, date(2023, 2, 1), "en")
    assert text.startswith("As of 1 February 2023, Thành phố Hà Nội had installed the handbook for 88,279 members")
    assert "(72.87% of all members, about 80.16% of eligible ones)" in text
