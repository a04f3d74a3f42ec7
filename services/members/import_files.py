"""Reading and writing member spreadsheets (CSV and XLSX).

Only turns files into rows of raw cell values; validation belongs to
`domain.parse_member`, so row numbers here match what the clerk sees in Excel.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Literal

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from services.members.domain import MEMBER_FIELDS, REQUIRED_FIELDS, format_value

ZIP_MAGIC = b"PK\x03\x04"
HEADER_ROW = 1

Row = tuple[int, dict[str, object]]

# Excel turns digit strings into numbers and drops their leading zero; these
# are the column lengths at which we know one zero went missing.
_LEADING_ZERO_LENGTHS = {"phone": 9, "citizen_id": 11}


def sniff_format(filename: str, data: bytes) -> Literal["csv", "xlsx"]:
    extension = PurePath(filename).suffix.lower()
    if extension not in (".csv", ".xlsx"):
        raise ValueError("unsupported file type: use .csv or .xlsx")
    # The content decides: clerks rename files, and a workbook saved under a
    # .csv name would otherwise be read as binary garbage.
    if data.startswith(ZIP_MAGIC):
        return "xlsx"
    if extension == ".xlsx":
        raise ValueError("the .xlsx file is not a valid Excel workbook")
    return "csv"


def read_member_rows(data: bytes, filename: str) -> Iterator[Row]:
    """Yield (spreadsheet row number, {column: value}) for each non-empty data row.

    Not a generator itself, so a bad file or header fails at call time rather
    than on first iteration.
    """
    lines = _csv_lines(data) if sniff_format(filename, data) == "csv" else _xlsx_lines(data)
    columns = _read_header(lines)
    return _data_rows(columns, lines)


def write_csv(rows: Iterable[Mapping[str, object]], columns: Sequence[str] = MEMBER_FIELDS) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(format_value(row.get(name)) for name in columns)
    # The BOM makes Excel open the file as UTF-8 instead of mangling Vietnamese.
    return buffer.getvalue().encode("utf-8-sig")


def write_xlsx(rows: Iterable[Mapping[str, object]], columns: Sequence[str] = MEMBER_FIELDS) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(list(columns))
    for row in rows:
        sheet.append([row.get(name) for name in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _csv_lines(data: bytes) -> Iterator[list[object]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError("the CSV file must be saved as UTF-8") from None
    return iter(csv.reader(io.StringIO(text, newline="")))


def _xlsx_lines(data: bytes) -> Iterator[list[object]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError):
        raise ValueError("the .xlsx file is not a valid Excel workbook") from None
    sheet = workbook.worksheets[0]
    # Some exporters write a wrong sheet size; without this, read-only mode
    # would silently cut rows or columns off.
    sheet.reset_dimensions()
    return _close_after(workbook, sheet.iter_rows(values_only=True))


def _close_after(workbook: Workbook, rows: Iterable[tuple[object, ...]]) -> Iterator[list[object]]:
    # Read-only workbooks keep the archive open until closed.
    try:
        for row in rows:
            yield list(row)
    finally:
        workbook.close()


def _read_header(lines: Iterator[list[object]]) -> list[str]:
    header = next(lines, None)
    if header is None:
        raise ValueError("the file is empty: the first row must name the columns")
    columns = ["" if cell is None else str(cell).strip().lower() for cell in header]
    named = [c for c in columns if c]
    duplicates = sorted({c for c in named if named.count(c) > 1})
    if duplicates:
        raise ValueError("duplicate columns: " + ", ".join(duplicates))
    missing = [c for c in REQUIRED_FIELDS if c not in columns]
    if missing:
        raise ValueError("missing required columns: " + ", ".join(missing))
    return columns


def _data_rows(columns: list[str], lines: Iterator[list[object]]) -> Iterator[Row]:
    for row_number, cells in enumerate(lines, start=HEADER_ROW + 1):
        row = {
            name: _cell_value(name, cell)
            for name, cell in zip(columns, cells)
            if name and not _is_blank(cell)
        }
        if row:
            yield row_number, row


def _is_blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _cell_value(column: str, cell: object) -> object:
    if isinstance(cell, datetime):
        return cell.date()
    if _is_whole_number(cell):
        digits = str(int(cell))
        if len(digits) == _LEADING_ZERO_LENGTHS.get(column):
            return "0" + digits
        return digits
    return cell


def _is_whole_number(cell: object) -> bool:
    if isinstance(cell, bool):
        return False
    return isinstance(cell, int) or (isinstance(cell, float) and cell.is_integer())
