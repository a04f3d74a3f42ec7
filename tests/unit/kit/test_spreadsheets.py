"""The spreadsheets we write never carry a live formula (sotay/kit/spreadsheets.py): text a spreadsheet
program would run is written as text, numbers stay numbers, and our own CSV reads back unchanged."""

import csv
import io
import zipfile

import pytest
from openpyxl import load_workbook

from services.members.adapters.import_files import read_member_rows, write_csv, write_xlsx
from sotay.kit.spreadsheets import csv_bytes, csv_cell, is_formula_like, unquote, xlsx_bytes

FORMULAS = ['=HYPERLINK("http://evil.example/","Xem")', "@SUM(1)", "+1+1", "-2+3", "\t=1+1", "\r=1+1",
            "=cmd|' /C calc'!A0", "-", "+"]
HARMLESS = ["Chi bộ số 1", "", "a=b", "1+1", "-5", "+84912345678", "3.14", "-0.5", " =1"]


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_like_text_is_written_as_text_in_csv(text):
    assert is_formula_like(text)
    assert csv_cell(text) == "'" + text
    assert unquote(csv_cell(text)) == text


@pytest.mark.parametrize("text", HARMLESS)
def test_other_text_and_plain_numbers_are_written_as_they_are(text):
    assert not is_formula_like(text)
    assert csv_cell(text) == text == unquote(text)


def test_csv_cells_are_neutralised_and_numbers_stay_numbers():
    data = csv_bytes(["unit_name", "members_total"], [["=1+1", 5], ["@SUM(1)", 2.5], ["Ba Đình", None]])
    assert data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows == [["unit_name", "members_total"], ["'=1+1", "5"], ["'@SUM(1)", "2.5"], ["Ba Đình", ""]]


def test_xlsx_text_is_a_string_cell_never_a_formula():
    data = xlsx_bytes(["name", "n"], [[text, i] for i, text in enumerate(FORMULAS + HARMLESS)], title="ba-dinh/[x]")
    sheet_xml = zipfile.ZipFile(io.BytesIO(data)).read("xl/worksheets/sheet1.xml")
    assert b"<f>" not in sheet_xml and b"<f " not in sheet_xml
    sheet = load_workbook(io.BytesIO(data)).active
    assert sheet.title == "ba-dinh--x-"
    rows = list(sheet.iter_rows(min_row=2))
    for (name, number), text, i in zip(rows, FORMULAS + HARMLESS, range(len(rows)), strict=True):
        # (XML reads a carriage return back as a line feed)
        assert (name.value or "") == text.replace("\r", "\n") and name.data_type in ("s", "inlineStr"), text
        assert name.quotePrefix is is_formula_like(text)
        assert (number.value, number.data_type) == (i, "n")


def test_a_members_file_we_write_reads_back_unchanged():
    row = {"party_card_no": "0100000001", "full_name": "=HYPERLINK(1)", "date_of_birth": "1970-01-01",
           "unit": "c1", "phone": "+84912345678", "ineligible_reason": "-2+3"}
    for data, name in ((write_csv([row]), "m.csv"), (write_xlsx([row]), "m.xlsx")):
        ((_, read),) = list(read_member_rows(data, name))
        assert read == row, name
