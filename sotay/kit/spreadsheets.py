"""Spreadsheets the system writes (CSV and XLSX) never carry a live formula.

A spreadsheet program runs a cell whose text starts with `=`, `+`, `-` or `@` as a formula (some
also after a leading tab or carriage return): a unit named `=HYPERLINK("http://…", "Xem")` in a
rollout export would put a link (or worse, a DDE call) in front of the leader who opens it.
Every cell we write goes through here:

- CSV: such a text is written with a leading apostrophe (`'=HYPERLINK(…)`), which spreadsheet
  programs show as text;
- XLSX: every text is an explicit string cell (openpyxl would store a str starting with "=" as
  a formula), and one that starts with a trigger also gets Excel's own "quote prefix" mark, so
  editing it does not turn it into a formula either.

Numbers stay numbers, and so does text that is nothing but a plain number (`-5`, `+84912345678`):
it cannot be a formula, and a phone number written `+84…` must come back unchanged when the file
is imported again. `unquote` undoes the CSV apostrophe for our own files read back in.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

# What makes a spreadsheet program read a cell as a formula (OWASP, "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_SHEET_TITLE_FORBIDDEN = re.compile(r"[\\/*?:\[\]]")


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet program could take `text` for a formula."""
    return text.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.fullmatch(text)


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: formula-like text behind an apostrophe, anything else unchanged."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def unquote(text: str) -> str:
    """A CSV cell as it was before `csv_cell` (the apostrophe dropped again)."""
    if text.startswith("'") and is_formula_like(text[1:]):
        return text[1:]
    return text


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """A CSV file (UTF-8 with a BOM, so spreadsheet programs read Vietnamese right)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([csv_cell(c) for c in columns])
    for row in rows:
        writer.writerow([csv_cell(value) for value in row])
    return out.getvalue().encode("utf-8-sig")


def xlsx_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> bytes:
    """An XLSX workbook of one sheet (streamed as it is written: openpyxl's write-only mode)."""
    return xlsx_book([(title, columns, rows)])


def xlsx_book(sheets: Iterable[tuple[str | None, Sequence[str], Iterable[Sequence[Any]]]]) -> bytes:
    """An XLSX workbook of several sheets, each (title, header row, rows), in that order."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    for title, columns, rows in sheets:
        sheet = book.create_sheet(_SHEET_TITLE_FORBIDDEN.sub("-", title)[:31] if title else None)
        sheet.append([_xlsx_cell(sheet, c) for c in columns])
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def text_cell(cell, value: str):  # noqa: ANN001, ANN201
    """`value` in a cell of a workbook written in openpyxl's normal mode, as text, never a formula
    (openpyxl takes a str starting with "=" for one); the cell, for styling."""
    cell.value = value
    cell.data_type = "s"
    if is_formula_like(value):
        cell.quotePrefix = True
    return cell


def _xlsx_cell(sheet, value: Any) -> Any:
    """Text as an explicit string cell (never a formula); any other value as openpyxl writes it."""
    if not isinstance(value, str):
        return value
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    cell.data_type = "s"  # openpyxl made a str starting with "=" a formula ("f")
    if is_formula_like(value):
        cell.quotePrefix = True
    return cell
