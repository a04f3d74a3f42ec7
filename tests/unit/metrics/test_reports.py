"""The reports' rules (services/metrics/domain/reports.py)."""

import csv
import io
from datetime import date

from services.metrics.domain.reports import COLUMNS, as_csv, rows, summary

F = {"accounts_installed": 88279, "installed_pct_total": 72.87, "installed_pct_eligible": 80.16,
     "accounts_web": 1234, "accounts_mobile": 87045, "accounts_pending": 5}
UNIT = {"name": "Thành phố Hà Nội"}


def item(code: str) -> dict:
    return {c: (code if c == "unit_code" else 1) for c in COLUMNS}


def test_the_rows_follow_the_columns():
    assert rows([item("a"), item("b")])[1][0] == "b"
    assert len(rows([item("a")])[0]) == len(COLUMNS)


def test_the_csv_has_a_header_and_a_row_per_unit():
    table = list(csv.reader(io.StringIO(as_csv([item("a"), item("b")]).decode("utf-8-sig"))))
    assert table[0] == list(COLUMNS) and [r[0] for r in table[1:]] == ["a", "b"]


def test_the_vietnamese_summary_writes_numbers_the_vietnamese_way():
    text = summary(UNIT, F, 9, date(2023, 2, 1), "vi")
    assert text.startswith("Đến ngày 1/2/2023, 9 đơn vị trực thuộc Thành phố Hà Nội đã cài đặt thành công cho "
                           "88.279 đảng viên (đạt 72,87% tổng số")
    assert "80,16%" in text and "5 đảng viên đã đăng ký" in text


def test_the_english_summary_names_the_month_and_a_unit_alone_when_none_below():
    text = summary(UNIT, F, 0, date(2023, 2, 1), "en")
    assert text.startswith("As of 1 February 2023, Thành phố Hà Nội had installed the handbook for 88,279 members")
    assert "(72.87% of all members, about 80.16% of eligible ones)" in text
