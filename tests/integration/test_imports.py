"""Bulk import of members from XLSX and CSV, over HTTP and from the command line."""

from __future__ import annotations


import pytest
from sqlalchemy import text

import services.members
from services.members.adapters.import_files import write_csv, write_xlsx
from sotay.system.cli import main as sotay_main
from tests.support.system import eventually, make_settings, running_system

pytestmark = pytest.mark.integration

CELLS = [f"hk-g1-c{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    async with running_system([services.members.definition()], settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"},
                {"code": "hoan-kiem", "name": "Quận Hoàn Kiếm", "kind": "committee", "parent": "city", "wave": 1},
                {"code": "hk-g1", "name": "Phường Hàng Bạc", "kind": "grassroots", "parent": "hoan-kiem"}]
        tree += [{"code": c, "name": f"Chi bộ số {c[-1]}", "kind": "cell", "parent": "hk-g1"} for c in CELLS]
        for unit in tree:
            assert (await system.client.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201
        yield system


def rows(n: int, card_base: int) -> list[dict[str, str]]:
    return [{"party_card_no": str(card_base + i), "full_name": f"Nguyễn Văn {chr(65 + i % 26)}",
             "date_of_birth": "1965-04-0" + str(1 + i % 9), "gender": "male", "citizen_id": f"001065{card_base + i:06d}"[-12:],
             "phone": f"09{card_base + i:08d}"[-10:], "unit": CELLS[i % len(CELLS)], "admitted_on": "1990-01-01",
             "official_on": "1991-01-01", "status": "active", "eligible": "true", "ineligible_reason": ""}
            for i in range(n)]


async def count(system, sql: str) -> int:
    async with system.runtimes["members"].context.engine.connect() as conn:
        return (await conn.execute(text(sql))).scalar_one()


async def test_xlsx_of_1000_rows_with_3_bad_imports_997_and_lists_the_3(system):
    data = rows(1000, 10_000_000)
    data[99]["phone"] = "12345"                 # spreadsheet row 101
    data[500]["official_on"] = "1989-01-01"     # row 502: before admission
    data[998]["unit"] = "no-such-cell"          # row 1000
    before_events = await count(system, "SELECT count(*) FROM outbox")
    response = await system.client.post(
        "/api/members/v1/imports", params={"wait": "true"},
        files={"file": ("dang-vien.xlsx", write_xlsx(data),
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")},
        headers=system.auth("unit_admin", "hoan-kiem"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["status"], report["total_rows"], report["imported"], report["rejected"]) == ("done", 1000, 997, 3)
    assert [(e["row"], e["field"]) for e in report["errors"]] == [
        (101, "phone"), (502, "official_on"), (1000, "unit")]
    assert all(e["reason"] for e in report["errors"])
    assert await count(system, "SELECT count(*) FROM members WHERE party_card_no LIKE '10%'") == 997
    # Each imported member is announced, and the relay publishes every event.
    assert await count(system, "SELECT count(*) FROM outbox") - before_events == 997
    await eventually(lambda: count_zero(system), timeout=20)
    again = await system.client.get(response.headers["location"], headers=system.auth("unit_admin", "hoan-kiem"))
    assert again.json()["imported"] == 997


async def count_zero(system) -> bool:
    return await count(system, "SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0


async def test_rows_already_in_the_registry_or_twice_in_the_file_are_rejected(system):
    data = rows(3, 10_000_000)  # already imported above
    data += rows(2, 20_000_000) + rows(1, 20_000_000)
    response = await system.client.post(
        "/api/members/v1/imports", params={"wait": "true"},
        files={"file": ("lan-2.csv", write_csv(data), "text/csv")}, headers=system.auth("city_admin"))
    report = response.json()
    assert report["imported"] == 2
    reasons = {(e["row"], e["field"], e["reason"]) for e in report["errors"]}
    assert (2, "party_card_no", "is already in the registry") in reasons
    assert (7, "party_card_no", "appears twice in this file") in reasons


async def test_an_import_outside_the_callers_units_is_refused_row_by_row(system):
    response = await system.client.post(
        "/api/members/v1/imports", params={"wait": "true"},
        files={"file": ("x.csv", write_csv(rows(2, 30_000_000)), "text/csv")},
        headers=system.auth("unit_admin", "hk-g1-c1"))
    report = response.json()
    assert report["imported"] == 1 and report["errors"][0]["reason"] == "is outside the units you administer"


async def test_a_file_that_is_not_a_member_list_is_a_clear_422(system):
    response = await system.client.post(
        "/api/members/v1/imports", files={"file": ("notes.txt", b"hello", "text/plain")},
        headers=system.auth("city_admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


async def test_command_line_import_reports_rows_and_fields(system, database_url, data_dir, tmp_path, monkeypatch,
                                                           capsys):
    data = rows(50, 40_000_000)
    data[9]["date_of_birth"] = "2030-01-01"  # row 11
    path = tmp_path / "chi-bo.csv"
    path.write_bytes(write_csv(data))
    monkeypatch.setenv("SOTAY_DATABASE_URL", database_url)
    monkeypatch.setenv("SOTAY_DATA_DIR", str(data_dir))
    exit_code = await _in_thread(sotay_main, ["import", "members", str(path)])
    out = capsys.readouterr().out
    assert exit_code == 1  # some rows were rejected
    assert "row 11: date_of_birth cannot be in the future" in out
    assert "imported 49 of 50 rows; 1 rejected" in out
    assert await count(system, "SELECT count(*) FROM members WHERE party_card_no LIKE '40%'") == 49


async def _in_thread(fn, *args):
    import asyncio
    return await asyncio.to_thread(fn, *args)


VIETNAMESE_CSV = (
    "Số thẻ đảng viên,Họ và tên,Ngày sinh,Giới tính,Số CCCD,Số điện thoại,Chi bộ,Ngày vào Đảng,Ngày chính thức\n"
    "{card}1,Nguyễn Văn Một,01/05/1960,Nam,,,hk-g1-c1,03/02/1985,03/02/1986\n"
    "{card}2,Trần Thị Hai,31/02/1961,Nữ,,,hk-g1-c1,,\n"
    "10000000,Lê Văn Ba,02/03/1962,Nam,,,hk-g1-c1,,\n"       # already in the registry (the first test)
    "{card}4,Phạm Văn Bốn,1963-04-04,nam,,,chi bo so 2,,\n"  # ISO date; the cell by its name
    "{card}5,Hoàng Văn Năm,05/05/1964,Nam,,12345,hk-g1-c1,,\n"
)


async def test_vietnamese_headers_and_dates_are_imported_and_errors_name_the_column_in_row_order(system):
    data = VIETNAMESE_CSV.format(card="5000000").encode("utf-8-sig")
    response = await system.client.post(
        "/api/members/v1/imports", params={"wait": "true"},
        files={"file": ("dang-vien.csv", data, "text/csv")}, headers=system.auth("unit_admin", "hoan-kiem"))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["imported"], report["rejected"]) == (2, 3)
    assert [(e["row"], e["field"], e["column"]) for e in report["errors"]] == [
        (3, "date_of_birth", "Ngày sinh"), (4, "party_card_no", "Số thẻ đảng viên"), (6, "phone", "Số điện thoại")]
    found = (await system.client.get("/api/members/v1/members", params={"q": "50000001"},
                                     headers=system.auth("city_admin"))).json()["items"][0]
    assert (found["date_of_birth"], found["gender"], found["admitted_on"]) == ("1960-05-01", "male", "1985-02-03")
    named = (await system.client.get("/api/members/v1/members", params={"q": "50000004"},
                                     headers=system.auth("city_admin"))).json()["items"][0]
    assert named["unit"] == "hk-g1-c2"


async def test_a_file_missing_a_column_names_it_as_clerks_do(system):
    response = await system.client.post(
        "/api/members/v1/imports", files={"file": ("x.csv", "Số thẻ,Họ và tên\n1,A\n".encode(), "text/csv")},
        headers=system.auth("city_admin"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["reason"] == "missing required columns: Ngày sinh, Chi bộ"


async def test_the_template_has_the_vietnamese_headers_and_is_for_those_who_import(system):
    from openpyxl import load_workbook
    import io

    got = await system.client.get("/api/members/v1/imports/template.xlsx", headers=system.auth("unit_admin", "hoan-kiem"))
    assert got.status_code == 200 and got.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(got.content), read_only=True).worksheets[0]
    header, example = list(sheet.iter_rows(values_only=True))[:2]
    assert header[:3] == ("Số thẻ đảng viên", "Họ và tên", "Ngày sinh") and example[2] == "01/05/1960"
    assert (await system.client.get("/api/members/v1/imports/template.xlsx")).status_code == 401
    assert (await system.client.get("/api/members/v1/imports/template.xlsx",
                                    headers=system.auth("member", "hk-g1-c1", card="010000001"))).status_code == 403
