import io
import zipfile
from datetime import date, datetime

import pytest
from openpyxl import Workbook

from services.members.domain import GENDERS, MEMBER_FIELDS, InvalidInput, Member, parse_member
from services.members.adapters import import_files
from services.members.adapters.import_files import read_member_rows, sniff_format, write_csv, write_xlsx

TODAY = date(2025, 6, 1)
REQUIRED = ("party_card_no", "full_name", "date_of_birth", "unit")

SURNAMES = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Đặng", "Bùi", "Đỗ")
GIVEN_NAMES = ("Văn An", "Thị Bình", "Quốc Cường", "Thị Dung", "Đức Hải", "Thị Hường")


def member_row(i: int) -> dict[str, object]:
    """A valid import row, varied enough to exercise every column."""
    born = date(1950 + i % 50, 1 + i % 12, 1 + i % 28)
    deceased = i % 50 == 7
    return {
        "party_card_no": f"{10_000_000 + i}",
        "full_name": f"{SURNAMES[i % len(SURNAMES)]} {GIVEN_NAMES[i % len(GIVEN_NAMES)]}",
        "date_of_birth": born,
        "gender": GENDERS[i % 2],
        "citizen_id": f"{i:012d}",
        "phone": f"09{i:08d}" if i % 3 else "",
        "unit": f"chi-bo-{i % 25}",
        "admitted_on": born.replace(year=born.year + 20),
        "official_on": born.replace(year=born.year + 21),
        "status": "deceased" if deceased else ("active", "probationary", "exempt")[i % 3],
        "eligible": not deceased,
        "ineligible_reason": "Từ trần" if deceased else None,
    }


def thousand_rows_with_three_bad() -> tuple[list[dict[str, object]], dict[int, list[str]]]:
    rows = [member_row(i) for i in range(1000)]
    rows[99]["phone"] = "12345"
    rows[500].update(date_of_birth=date(2030, 1, 1), admitted_on=None, official_on=None, gender="khác")
    rows[998]["full_name"] = ""
    # Data starts on spreadsheet row 2, so list index i is row i + 2.
    expected_failures = {101: ["phone"], 502: ["date_of_birth", "gender"], 1000: ["full_name"]}
    return rows, expected_failures


def parse_all(rows) -> tuple[list[Member], dict[int, list[str]]]:
    members, failures = [], {}
    for row_number, row in rows:
        try:
            members.append(parse_member(row, today=TODAY))
        except InvalidInput as exc:
            failures[row_number] = sorted(e.field for e in exc.errors)
    return members, failures


def xlsx_bytes(*rows: list[object]) -> bytes:
    """A workbook built by hand, to control cell types the way Excel would store them."""
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- 1,000-row round trips ------------------------------------------------


@pytest.mark.parametrize(("writer", "filename"), [(write_xlsx, "dang-vien.xlsx"), (write_csv, "dang-vien.csv")])
def test_thousand_rows_round_trip_and_bad_rows_are_pinpointed(writer, filename: str) -> None:
    rows, expected_failures = thousand_rows_with_three_bad()

    members, failures = parse_all(read_member_rows(writer(rows), filename))

    assert failures == expected_failures
    good_rows = [row for i, row in enumerate(rows) if i + 2 not in expected_failures]
    assert members == [parse_member(row, today=TODAY) for row in good_rows]
    assert len(members) == 997


# --- sniff_format ---------------------------------------------------------


def test_sniff_by_extension_and_content() -> None:
    workbook = write_xlsx([])
    assert sniff_format("a.csv", b"party_card_no\n") == "csv"
    assert sniff_format("A.CSV", b"party_card_no\n") == "csv"
    assert sniff_format("a.xlsx", workbook) == "xlsx"
    assert sniff_format("a.csv", workbook) == "xlsx"


@pytest.mark.parametrize("filename", ["a.xls", "a.txt", "a", "a.csv.zip"])
def test_unsupported_extension(filename: str) -> None:
    with pytest.raises(ValueError, match=r"^unsupported file type: use \.csv or \.xlsx$"):
        read_member_rows(b"party_card_no\n", filename)


@pytest.mark.parametrize("data", [b"party_card_no,full_name\n", b"PK\x03\x04not really a zip"])
def test_broken_workbook(data: bytes) -> None:
    with pytest.raises(ValueError, match="not a valid Excel workbook"):
        read_member_rows(data, "a.xlsx")


# --- CSV ------------------------------------------------------------------


CSV_TEXT = (
    " Party_Card_No ,FULL_NAME,date_of_birth,unit,ghi_chu\r\n"
    '01.234567,"Nguyễn Văn An",1980-05-17,chi-bo-3,"Tổ 1, phường Tràng Tiền"\r\n'
    ",,,,\r\n"
    "\r\n"
    "12345678,Trần Thị Bình,1990-01-01,chi-bo-4,\r\n"
)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_csv_rows_with_and_without_bom(encoding: str) -> None:
    rows = list(read_member_rows(CSV_TEXT.encode(encoding), "members.csv"))
    assert rows == [
        (2, {
            "party_card_no": "01.234567",
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1980-05-17",
            "unit": "chi-bo-3",  # ghi_chu is no column of ours: left out
        }),
        # rows 3 and 4 are empty: skipped, yet still counted
        (5, {"party_card_no": "12345678", "full_name": "Trần Thị Bình", "date_of_birth": "1990-01-01", "unit": "chi-bo-4"}),
    ]


def test_csv_short_rows_leave_columns_absent() -> None:
    data = b"party_card_no,full_name,date_of_birth,unit,phone\n12345678,Ka\n"
    assert list(read_member_rows(data, "m.csv")) == [(2, {"party_card_no": "12345678", "full_name": "Ka"})]


def test_csv_must_be_utf8() -> None:
    data = "party_card_no,full_name,date_of_birth,unit\n1,Nguyễn,x,y\n".encode("utf-16")
    with pytest.raises(ValueError, match="UTF-8"):
        read_member_rows(data, "m.csv")


def test_missing_required_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"missing required columns: Ngày sinh, Chi bộ$"):
        read_member_rows(b"party_card_no,full_name,phone\n", "m.csv")


def test_duplicate_columns_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate columns: phone / Phone"):
        read_member_rows(b"party_card_no,full_name,date_of_birth,unit,phone,Phone\n", "m.csv")


@pytest.mark.parametrize("filename", ["m.csv", "m.xlsx"])
def test_empty_file_rejected(filename: str) -> None:
    data = b"" if filename.endswith(".csv") else xlsx_bytes()
    with pytest.raises(ValueError, match="file is empty"):
        read_member_rows(data, filename)


def test_header_only_file_has_no_rows() -> None:
    assert list(read_member_rows(write_csv([]), "m.csv")) == []
    assert list(read_member_rows(write_xlsx([]), "m.xlsx")) == []


def test_write_csv_formats_values_for_reimport() -> None:
    data = write_csv(
        [{"party_card_no": "12345678", "date_of_birth": date(1980, 5, 17), "eligible": False, "phone": None}],
        columns=("party_card_no", "date_of_birth", "eligible", "phone"),
    )
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines() == [
        "party_card_no,date_of_birth,eligible,phone",
        "12345678,1980-05-17,false,",
    ]


# --- XLSX -----------------------------------------------------------------


def test_xlsx_restores_numbers_excel_mangled() -> None:
    data = xlsx_bytes(
        ["party_card_no", "full_name", "date_of_birth", "unit", "phone", "citizen_id"],
        [12345678, "Nguyễn Văn An", datetime(1980, 5, 17), 7, 912345678, 1080012345],
        [12345678.0, "Trần Thị Bình", date(1990, 1, 1), "chi-bo-4", 2438221234, 12080012345],
        [1234567890, "Lê Văn Cường", "1991-02-03", "chi-bo-4", 84912345678.0, 123456789012],
    )
    rows = [row for _, row in read_member_rows(data, "m.xlsx")]
    assert rows == [
        {
            "party_card_no": "12345678",
            "full_name": "Nguyễn Văn An",
            "date_of_birth": date(1980, 5, 17),
            "unit": "7",
            "phone": "0912345678",
            # Two zeros lost: not safely restorable, so parse_member will reject it.
            "citizen_id": "1080012345",
        },
        {
            "party_card_no": "12345678",
            "full_name": "Trần Thị Bình",
            "date_of_birth": date(1990, 1, 1),
            "unit": "chi-bo-4",
            "phone": "2438221234",
            "citizen_id": "012080012345",
        },
        {
            "party_card_no": "1234567890",
            "full_name": "Lê Văn Cường",
            "date_of_birth": "1991-02-03",
            "unit": "chi-bo-4",
            "phone": "84912345678",
            "citizen_id": "123456789012",
        },
    ]


def test_xlsx_keeps_bools_and_fractional_numbers_for_the_validator() -> None:
    data = xlsx_bytes(
        ["party_card_no", "full_name", "date_of_birth", "unit", "eligible", "phone"],
        ["12345678", "Nguyễn Văn An", date(1980, 5, 17), "cb", True, 9.5],
    )
    [(_, row)] = read_member_rows(data, "m.xlsx")
    assert row["eligible"] is True
    assert row["phone"] == 9.5


def test_xlsx_header_is_tidied_and_empty_rows_counted() -> None:
    data = xlsx_bytes(
        [" Party_Card_No", "FULL_NAME ", None, "date_of_birth", "unit"],
        ["12345678", "Nguyễn Văn An", "ignored: no header", date(1980, 5, 17), "cb-1"],
        [None, None, None, None, None],
        [],
        ["", "  ", None, None, None],
        ["87654321", "Trần Thị Bình", None, date(1990, 1, 1), "cb-2"],
    )
    rows = list(read_member_rows(data, "m.xlsx"))
    assert [n for n, _ in rows] == [2, 6]
    assert rows[1][1] == {
        "party_card_no": "87654321",
        "full_name": "Trần Thị Bình",
        "date_of_birth": date(1990, 1, 1),
        "unit": "cb-2",
    }


def test_xlsx_reads_first_sheet_only() -> None:
    workbook = Workbook()
    workbook.active.append(["party_card_no", "full_name", "date_of_birth", "unit"])
    workbook.active.append(["12345678", "Nguyễn Văn An", date(1980, 5, 17), "cb-1"])
    workbook.create_sheet("other").append(["nothing", "useful"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert [n for n, _ in read_member_rows(buffer.getvalue(), "m.xlsx")] == [2]


def test_xlsx_missing_required_columns_are_named() -> None:
    data = xlsx_bytes(["party_card_no", "ghi_chu", "date_of_birth"])
    with pytest.raises(ValueError, match=r"missing required columns: Họ và tên, Chi bộ$"):
        read_member_rows(data, "m.xlsx")


def test_write_xlsx_uses_given_columns() -> None:
    data = write_xlsx([{"unit": "cb-1", "full_name": "Ka", "extra": "dropped"}], columns=REQUIRED)
    assert list(read_member_rows(data, "m.xlsx")) == [(2, {"full_name": "Ka", "unit": "cb-1"})]


def test_default_columns_are_member_fields() -> None:
    data = write_csv([])
    assert data.decode("utf-8-sig").strip() == ",".join(MEMBER_FIELDS)


# --- files read as they are, never whole; zip bombs refused before opening ---------------------------


class CountingFile(io.BytesIO):
    """A binary file that remembers how much each read asked for."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.reads: list[int] = []

    def read(self, size=-1):
        self.reads.append(size)
        return super().read(size)

    def readinto(self, buffer):
        self.reads.append(len(buffer))
        return super().readinto(buffer)

    read1 = read


def test_a_csv_file_is_read_a_chunk_at_a_time_and_closed_once_read():
    rows = [member_row(i) for i in range(20_000)]
    source = CountingFile(write_csv(rows))
    assert len(source.getvalue()) > 2 * 2**20
    read = list(read_member_rows(source, "members.csv"))
    assert len(read) == len(rows)
    assert all(0 < size <= 2**20 for size in source.reads), sorted(set(source.reads))[-3:]
    assert source.closed


def test_a_file_that_is_not_utf8_is_refused_before_any_row():
    with pytest.raises(ValueError, match="UTF-8"):
        read_member_rows(io.BytesIO(write_csv([member_row(1)]) + "Đảng viên".encode("utf-16")), "m.csv")


def bomb(size: int) -> bytes:
    """A workbook whose sheet inflates to `size` bytes of whitespace (readable, and a bomb)."""
    plain = xlsx_bytes(["party_card_no", "full_name", "date_of_birth", "unit"])
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plain)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(b"</sheetData>", b" " * size + b"</sheetData>")
            dst.writestr(item.filename, data)
    return out.getvalue()


def test_a_workbook_inflating_too_many_times_is_refused_from_its_directory():
    with pytest.raises(ValueError, match="inflates more than 100 times"):
        read_member_rows(bomb(8 * 2**20), "m.xlsx")


def test_a_workbook_inflating_too_much_in_all_is_refused(monkeypatch):
    monkeypatch.setattr(import_files, "MAX_XLSX_UNCOMPRESSED", 2**20)
    monkeypatch.setattr(import_files, "MAX_XLSX_RATIO", 10**6)
    with pytest.raises(ValueError, match="would inflate to 2 MiB; at most 1 MiB"):
        read_member_rows(bomb(2 * 2**20), "m.xlsx")


def test_an_ordinary_workbook_of_many_rows_is_read():
    rows = [member_row(i) for i in range(5000)]
    assert len(list(read_member_rows(write_xlsx(rows), "m.xlsx"))) == len(rows)


def test_vietnamese_headers_are_read_whatever_their_case_and_accents() -> None:
    data = ("SỐ THẺ ĐẢNG VIÊN,Họ và tên,ngay sinh,Giới tính,Số CCCD,Số điện thoại,Chi bộ,Ngày vào Đảng,"
            "Ngày chính thức,Ghi chú\n"
            "012345678,Nguyễn Văn An,01/05/1960,Nam,001060012345,0912345678,c1,03/02/1985,03/02/1986,x\n").encode()
    rows = read_member_rows(data, "m.csv")
    assert list(rows) == [(2, {"party_card_no": "012345678", "full_name": "Nguyễn Văn An", "date_of_birth": "01/05/1960",
                               "gender": "Nam", "citizen_id": "001060012345", "phone": "0912345678", "unit": "c1",
                               "admitted_on": "03/02/1985", "official_on": "03/02/1986"})]
    assert rows.labels["party_card_no"] == "SỐ THẺ ĐẢNG VIÊN" and rows.labels["date_of_birth"] == "ngay sinh"


def test_citizen_id_is_read_under_either_of_its_names() -> None:
    for header in ("Căn cước công dân", "Số CCCD", "citizen_id"):
        data = f"Số thẻ,Họ tên,Ngày sinh,Chi bộ,{header}\n12345678,Ka,01/05/1960,c1,001060012345\n".encode()
        [(_, row)] = read_member_rows(data, "m.csv")
        assert row["citizen_id"] == "001060012345"


def test_the_template_reads_back_as_its_example() -> None:
    from services.members.adapters.import_files import TEMPLATE_HEADERS, template_xlsx
    from services.members.domain import parse_member
    from datetime import date

    assert TEMPLATE_HEADERS[:3] == ("Số thẻ đảng viên", "Họ và tên", "Ngày sinh")
    [(row_no, row)] = read_member_rows(template_xlsx(), "mau.xlsx")
    assert row["unit"] == "Chi bộ số 1"
    member = parse_member({**row, "unit": "c1"}, today=date(2026, 1, 1))
    assert (row_no, member.date_of_birth, member.gender, member.phone) == (2, date(1960, 5, 1), "male", "+84912345678")
