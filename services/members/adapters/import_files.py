"""Reading and writing member spreadsheets (CSV and XLSX).

Only turns files into rows of raw cell values; validation belongs to
`domain.parse_member`, so row numbers here match what the clerk sees in Excel.

Files are read from a binary file (an upload spooled to disk), row by row: a
file of the whole city is never held in memory, whole or decoded. A workbook
is a zip archive, and its central directory is checked before openpyxl opens
it, so a zip bomb (a few kilobytes inflating to gigabytes) is refused first.
What we write goes through the kit's spreadsheet writer, which never writes a
live formula (sotay/kit/spreadsheets.py).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import BinaryIO, Literal

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from services.members.domain import MEMBER_FIELDS, REQUIRED_FIELDS, format_value
from sotay.kit import spreadsheets
from sotay.kit.text import fold

ZIP_MAGIC = b"PK\x03\x04"
HEADER_ROW = 1
CHUNK = 2**20

# A workbook's parts as its zip's central directory declares them (Python's zipfile never inflates
# an entry past its declared size, so the declaration is what openpyxl can be made to read).
# The city's whole registry, 475,000 members, is about 270 MB of sheet XML written with inline
# strings (openpyxl's way), less with Excel's shared strings: 1 GiB leaves room for that and
# refuses a bomb. Sheet XML compresses 10 to 15 times, the most repetitive sheets a few dozen
# times; deflate at its best reaches about 1,000 times, which is what bombs use. A workbook has
# about ten parts.
MAX_XLSX_UNCOMPRESSED = 2**30
MAX_XLSX_RATIO = 100
RATIO_CHECKED_FROM = 2**20  # small parts (styles, theme) may compress well and stay small
MAX_XLSX_PARTS = 1000

Row = tuple[int, dict[str, object]]

# The columns as clerks head them in Vietnamese (the first is the template's), besides the field
# names themselves (today's English headers). Matched with case, accents, spaces, dots and
# underscores ignored: "SỐ THẺ ĐẢNG VIÊN", "so the dang vien" and "Party_card_no" all work.
VIETNAMESE_HEADERS: dict[str, tuple[str, ...]] = {
    "party_card_no": ("Số thẻ đảng viên", "Số thẻ", "Số thẻ Đảng", "Số thẻ ĐV"),
    "full_name": ("Họ và tên", "Họ tên", "Họ và tên đảng viên"),
    "date_of_birth": ("Ngày sinh", "Ngày tháng năm sinh", "Ngày, tháng, năm sinh"),
    "gender": ("Giới tính",),
    "citizen_id": ("Số CCCD", "Căn cước công dân", "Số căn cước công dân", "CCCD", "Số căn cước",
                   "Số định danh cá nhân", "Số CMND/CCCD"),
    "phone": ("Số điện thoại", "Điện thoại", "SĐT", "Số ĐT"),
    "unit": ("Chi bộ", "Mã chi bộ", "Đơn vị", "Chi bộ sinh hoạt"),
    "admitted_on": ("Ngày vào Đảng", "Ngày kết nạp", "Ngày kết nạp Đảng", "Ngày vào đảng"),
    "official_on": ("Ngày chính thức", "Ngày công nhận chính thức", "Ngày được công nhận đảng viên chính thức"),
    "status": ("Tình trạng", "Tình trạng sinh hoạt", "Trạng thái"),
    "eligible": ("Đủ điều kiện", "Đủ điều kiện tham gia"),
    "ineligible_reason": ("Lý do không đủ điều kiện",),
}
TEMPLATE_HEADERS = tuple(VIETNAMESE_HEADERS[name][0] for name in MEMBER_FIELDS)
TEMPLATE_EXAMPLE = ("012345678", "Nguyễn Văn An", "01/05/1960", "Nam", "001060012345", "0912345678",
                    "Chi bộ số 1", "03/02/1985", "03/02/1986", "Đang sinh hoạt", "Có", "")


def _header_key(text: str) -> str:
    return "".join(ch for ch in fold(text.replace("_", " ").replace(".", " ")) if ch.isalnum())


_HEADER_FIELDS = {_header_key(name): name for name in MEMBER_FIELDS} | {
    _header_key(label): name for name, labels in VIETNAMESE_HEADERS.items() for label in labels}


class MemberRows:
    """A file's data rows, (row number, {field: value}), and `labels`: each field's column as
    the file heads it (what a clerk is told of a refused row)."""

    def __init__(self, rows: Iterator[Row], labels: dict[str, str]) -> None:
        self.rows = rows
        self.labels = labels

    def __iter__(self) -> Iterator[Row]:
        return self.rows

    def __next__(self) -> Row:
        return next(self.rows)

# Excel turns digit strings into numbers and drops their leading zero; these
# are the column lengths at which we know one zero went missing.
_LEADING_ZERO_LENGTHS = {"phone": 9, "citizen_id": 11}


def sniff_format(filename: str, data: bytes) -> Literal["csv", "xlsx"]:
    """CSV or XLSX, from the file's name and its first bytes (`data`: at least four of them)."""
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


def read_member_rows(source: bytes | BinaryIO, filename: str) -> MemberRows:
    """Yield (spreadsheet row number, {column: value}) for each non-empty data row.

    `source` is the file's bytes or a binary file open at its start (an upload spooled to disk),
    which is read as the rows are, and closed once they are all read.
    Not a generator itself, so a bad file or header fails at call time rather
    than on first iteration.
    """
    file = io.BytesIO(source) if isinstance(source, bytes) else source
    head = file.read(len(ZIP_MAGIC))
    file.seek(0)
    lines = _csv_lines(file) if sniff_format(filename, head) == "csv" else _xlsx_lines(file)
    columns, labels = _read_header(lines)
    return MemberRows(_data_rows(columns, lines), labels)


def write_csv(rows: Iterable[Mapping[str, object]], columns: Sequence[str] = MEMBER_FIELDS) -> bytes:
    """Rows as an import file (UTF-8 with a BOM, which makes Excel read Vietnamese right)."""
    return spreadsheets.csv_bytes(columns, ([format_value(row.get(name)) for name in columns] for row in rows))


def write_xlsx(rows: Iterable[Mapping[str, object]], columns: Sequence[str] = MEMBER_FIELDS) -> bytes:
    return spreadsheets.xlsx_bytes(columns, ([row.get(name) for name in columns] for row in rows))


def template_xlsx() -> bytes:
    """The import template: the Vietnamese headers and one example row, all text (so that Excel
    keeps a card's or a phone's leading zero and a date as it is written)."""
    return spreadsheets.xlsx_bytes(TEMPLATE_HEADERS, [TEMPLATE_EXAMPLE], title="Đảng viên")


def _csv_lines(file: BinaryIO) -> Iterator[list[object]]:
    _check_utf8(file)
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    return _close_after(text, csv.reader(text))


def _check_utf8(file: BinaryIO) -> None:
    """Refuse a file that is not UTF-8 before any row is read (one pass, a chunk at a time)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        while chunk := file.read(CHUNK):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise ValueError("the CSV file must be saved as UTF-8") from None
    file.seek(0)


def _xlsx_lines(file: BinaryIO) -> Iterator[list[object]]:
    try:
        check_workbook_archive(file)
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError):
        raise ValueError("the .xlsx file is not a valid Excel workbook") from None
    sheet = workbook.worksheets[0]
    # Some exporters write a wrong sheet size; without this, read-only mode
    # would silently cut rows or columns off.
    sheet.reset_dimensions()
    return _close_after(workbook, sheet.iter_rows(values_only=True))


def check_workbook_archive(file: BinaryIO) -> None:
    """Refuse a workbook whose parts would inflate to an absurd size (a zip bomb), from its
    central directory alone: nothing is inflated here."""
    with zipfile.ZipFile(file) as archive:
        parts = archive.infolist()
    file.seek(0)
    if len(parts) > MAX_XLSX_PARTS:
        raise ValueError(f"the .xlsx file has {len(parts)} parts; a workbook has a few dozen at most")
    total = sum(part.file_size for part in parts)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise ValueError(f"the .xlsx file would inflate to {total // 2**20} MiB; "
                         f"at most {MAX_XLSX_UNCOMPRESSED // 2**20} MiB are accepted")
    for part in parts:
        if part.file_size > RATIO_CHECKED_FROM and part.file_size > MAX_XLSX_RATIO * max(part.compress_size, 1):
            raise ValueError(f"the .xlsx file's part {part.filename} inflates more than {MAX_XLSX_RATIO} times: "
                             "it is not a workbook a spreadsheet program wrote")


def _close_after(owner, rows: Iterable[Sequence[object]]) -> Iterator[list[object]]:
    # Read-only workbooks keep the archive open until closed; a spooled upload is removed once closed.
    try:
        for row in rows:
            yield list(row)
    finally:
        owner.close()


def _read_header(lines: Iterator[list[object]]) -> tuple[list[str], dict[str, str]]:
    """The field each column holds ("" for a column we do not read) and each field's column as
    the file heads it."""
    header = next(lines, None)
    if header is None:
        raise ValueError("the file is empty: the first row must name the columns")
    titles = ["" if cell is None else " ".join(str(cell).split()) for cell in header]
    columns = [_HEADER_FIELDS.get(_header_key(title), "") if title else "" for title in titles]
    labels: dict[str, str] = {}
    duplicates: list[str] = []
    for name, title in zip(columns, titles):
        if not name:
            continue
        if name in labels:
            duplicates.append(f"{labels[name]} / {title}")
        labels[name] = labels.get(name, title)
    if duplicates:
        raise ValueError("duplicate columns: " + ", ".join(duplicates))
    missing = [VIETNAMESE_HEADERS[c][0] for c in REQUIRED_FIELDS if c not in labels]
    if missing:
        raise ValueError("missing required columns: " + ", ".join(missing))
    return columns, labels


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
    if isinstance(cell, str):
        return spreadsheets.unquote(cell)  # our own exports write "'=…" for a cell starting with "="
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
