"""Breach readiness on real servers (docs/breach-runbook.md): who read a member's records, when,
what and why, for the organisation board over the member's unit (reading it is audited too); the
file for the authority's notification (Vietnamese headers, Hanoi time, no formula); and the
unusual-read alert, raised once an account opens more full records within the hour than the
threshold (set low here), with an event on the stream that names no member."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import nats
import orjson
import pytest
from openpyxl import load_workbook
from sqlalchemy import text

import services.members
from services.members.adapters.access_export import DETAIL, MEMBERS as MEMBER_COLUMNS
from services.members.adapters import audit
from services.members.domain import Reader
from services.members.entrypoints.models import AccessHistory, UnusualReadAlert, UnusualReadAlerts
from sotay.kit.events import uuid7
from tests.support.system import eventually, make_settings, running_system

pytestmark = pytest.mark.integration

API = "/api/members/v1"
THRESHOLD = 3
TREE = [
    {"code": "city", "name": "Đảng bộ thành phố Hà Nội", "kind": "city"},
    {"code": "ba-dinh", "name": "Đảng bộ quận Ba Đình", "kind": "committee", "parent": "city", "wave": 1},
    {"code": "bd-g1", "name": "Đảng bộ phường Phúc Xá", "kind": "grassroots", "parent": "ba-dinh"},
    {"code": "bd-g1-c1", "name": "Chi bộ Tổ dân phố số 1", "kind": "cell", "parent": "bd-g1"},
    {"code": "tay-ho", "name": "Đảng bộ quận Tây Hồ", "kind": "committee", "parent": "city", "wave": 2},
    {"code": "th-g1", "name": "Đảng bộ phường Bưởi", "kind": "grassroots", "parent": "tay-ho"},
    {"code": "th-g1-c1", "name": "Chi bộ Khu dân cư số 5", "kind": "cell", "parent": "th-g1"},
]
NAMES = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung", "Hoàng Văn Em", "Vũ Thị Giang",
         "Đặng Văn Hùng"]
CLERK_CARD = "0100000107"  # Đặng Văn Hùng, who also keeps the registry of ba-dinh
HANOI_TIME = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}")


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir, unusual_reads_per_hour=THRESHOLD)
    async with running_system([services.members.definition()], settings, nats_url, database_url) as system:
        admin = system.auth("city_admin", "city")
        for unit in TREE:
            created = await system.client.post(f"{API}/org-units", json=unit, headers=admin)
            assert created.status_code == 201, created.text
        system.members = []
        for i, name in enumerate(NAMES, start=1):
            created = await system.client.post(f"{API}/members", headers=admin, json={
                "party_card_no": f"01000001{i:02d}", "full_name": name, "date_of_birth": "1970-01-01",
                "gender": "male", "citizen_id": f"0010700001{i:02d}", "phone": f"09120001{i:02d}",
                "unit": "bd-g1-c1"})
            assert created.status_code == 201, created.text
            system.members.append(created.json())
        outside = await system.client.post(f"{API}/members", headers=admin, json={
            "party_card_no": "0200000101", "full_name": "Ngô Văn Tây", "date_of_birth": "1970-01-01",
            "unit": "th-g1-c1"})
        system.outsider = outside.json()
        yield system


def clerk(system, subject: str, card: str | None = None) -> dict[str, str]:
    return system.auth("unit_admin", "ba-dinh", subject=subject, card=card)


async def audit_rows(system, **where) -> list[dict]:
    clause = " AND ".join(f"{k} = :{k}" for k in where)
    async with system.runtimes["members"].context.engine.connect() as db:
        rows = await db.execute(text(f"SELECT actor, what, CAST(member_ids AS text[]) AS member_ids, masked, purpose, "
                                     f"actor_role, actor_unit, reason FROM record_reads WHERE {clause} ORDER BY id"),
                                where)
        return [dict(r._mapping) for r in rows]


async def test_the_organisation_board_sees_who_read_a_record_when_what_and_why(system):
    an = system.members[0]
    c = system.client
    assert (await c.get(f"{API}/members/{an['id']}", headers=clerk(system, "clerk-hung", CLERK_CARD))).status_code == 200
    assert (await c.get(f"{API}/members/{an['id']}/history", headers=clerk(system, "clerk-hung", CLERK_CARD))
            ).status_code == 200
    secretary = system.auth("cell_secretary", "bd-g1-c1", subject="secretary-c1")
    assert (await c.get(f"{API}/members/{an['id']}", headers=secretary)).status_code == 200

    board = clerk(system, "board-ba-dinh")
    answer = await c.get(f"{API}/members/{an['id']}/reads", headers=board)
    assert answer.status_code == 200, answer.text
    body = AccessHistory.model_validate(answer.json()).model_dump(mode="json")
    assert [m["party_card_no"] for m in body["members"]] == [an["party_card_no"]] and not body["truncated"]
    reads = [(r["account"], r["reader_name"], r["reader_role"], r["reader_unit_name"], r["what"], r["purpose"],
              r["masked"]) for r in body["reads"] if r["account"] != "test-city_admin-city"]
    assert reads == [
        ("clerk-hung", "Đặng Văn Hùng", "unit_admin", "Đảng bộ quận Ba Đình", "record", "registry", False),
        ("clerk-hung", "Đặng Văn Hùng", "unit_admin", "Đảng bộ quận Ba Đình", "history", "registry", False),
        ("secretary-c1", None, "cell_secretary", "Chi bộ Tổ dân phố số 1", "record", "registry", True)]
    assert all(r["member_id"] == an["id"] and r["at"] for r in body["reads"])

    # Reading the history is a read of its own, which the next reading shows.
    assert await audit_rows(system, actor="board-ba-dinh") == [
        {"actor": "board-ba-dinh", "what": "reads", "member_ids": [an["id"]], "masked": False,
         "purpose": "access_review", "actor_role": "unit_admin", "actor_unit": "ba-dinh", "reason": None}]
    again = (await c.get(f"{API}/members/{an['id']}/reads", headers=system.auth("city_admin"))).json()
    assert [(r["account"], r["what"]) for r in again["reads"]][-1] == ("board-ba-dinh", "reads")

    # For a set of members, by card number or id, over a period.
    asked = await c.post(f"{API}/access-history", headers=board, json={
        "party_card_nos": ["01.00000101"], "member_ids": [system.members[1]["id"]],
        "since": "2020-01-01T00:00:00", "reason": "kiểm tra định kỳ"})
    assert asked.status_code == 200, asked.text
    assert {m["party_card_no"] for m in asked.json()["members"]} == {"0100000101", "0100000102"}
    assert (await audit_rows(system, actor="board-ba-dinh"))[-1]["reason"] == "kiểm tra định kỳ"
    nothing_yet = await c.post(f"{API}/access-history", headers=board,
                               json={"member_ids": [an["id"]], "since": "2099-01-01T00:00:00+07:00"})
    assert nothing_yet.status_code == 200 and nothing_yet.json()["reads"] == []


async def test_another_committee_a_cell_secretary_or_the_member_is_refused(system):
    an, c = system.members[0], system.client
    since = len(await audit_rows(system, what="reads"))
    for who in (system.auth("unit_admin", "tay-ho"), system.auth("cell_secretary", "bd-g1-c1"),
                system.auth("member", "bd-g1-c1", card=an["party_card_no"])):
        refused = await c.get(f"{API}/members/{an['id']}/reads", headers=who)
        assert refused.status_code == 403, refused.text
        assert an["full_name"] not in refused.text
    for body in ({"party_card_nos": [an["party_card_no"]]}, {"member_ids": [an["id"]]}):
        outside = await c.post(f"{API}/access-history", headers=system.auth("unit_admin", "tay-ho"), json=body)
        assert outside.status_code == 404 and an["full_name"] not in outside.text
        assert outside.json()["errors"][0]["field"] in ("party_card_nos.0", "member_ids.0")
    # Asking what an account read shows a tay-ho admin nothing of ba-dinh's members.
    by_account = await c.post(f"{API}/access-history", headers=system.auth("unit_admin", "tay-ho"),
                              json={"account": "clerk-hung"})
    assert by_account.status_code == 200 and by_account.json() == {"members": [], "reads": [], "truncated": False}
    unknown = await c.post(f"{API}/access-history", headers=clerk(system, "board-ba-dinh"),
                           json={"party_card_nos": ["0100000101", "0199999999"]})
    assert unknown.status_code == 404
    assert unknown.json()["errors"] == [{"field": "party_card_nos.1", "reason": "is not a member of your units"}]
    assert len(await audit_rows(system, what="reads")) == since


async def test_what_an_account_read_is_exported_for_the_notification_without_formulas(system):
    c = system.client
    hostile = '=HYPERLINK("http://evil.example/","Xem")'  # an account id is text, whoever chose it
    for member in system.members[1:3]:
        assert (await c.get(f"{API}/members/{member['id']}", headers=clerk(system, hostile))).status_code == 200
    city = system.auth("city_admin", subject="operator-city")
    exported = await c.post(f"{API}/access-history/export.xlsx", headers=city,
                            json={"account": hostile, "reason": "=1+1 sự cố ngày 05/05"})
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert re.search(r'filename="lich-su-truy-cap-\d{8}-\d{4}\.xlsx"', exported.headers["content-disposition"])
    book = load_workbook(io.BytesIO(exported.content))
    assert book.sheetnames == ["Tổng hợp", "Đảng viên bị ảnh hưởng", "Chi tiết truy cập"]
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert all(cell.data_type != "f" for cell in row), [cell.value for cell in row]
    detail = [[cell.value for cell in row] for row in book["Chi tiết truy cập"].iter_rows()]
    assert detail[0] == DETAIL and len(detail) == 3
    assert [row[2] for row in detail[1:]] == [system.members[1]["party_card_no"], system.members[2]["party_card_no"]]
    for row in detail[1:]:
        assert HANOI_TIME.fullmatch(row[1]) and row[5] == hostile and row[4] == "Chi bộ Tổ dân phố số 1"
        assert (row[7], row[8], row[9], row[11], row[12]) == (
            "Ban Tổ chức (quản trị đơn vị)", "Đảng bộ quận Ba Đình", "Hồ sơ đảng viên", "Hiển thị đầy đủ",
            "Quản lý hồ sơ đảng viên")
    members = [[cell.value for cell in row] for row in book["Đảng viên bị ảnh hưởng"].iter_rows()]
    assert members[0] == MEMBER_COLUMNS and [row[2] for row in members[1:]] == [m["full_name"]
                                                                                for m in system.members[1:3]]
    summary = {row[0].value: row[1].value for row in book["Tổng hợp"].iter_rows(min_row=2)}
    assert summary["Số đảng viên có hồ sơ bị truy cập"] == 2 and summary["Số tài khoản đã truy cập"] == 1
    assert summary["Lý do tra cứu"] == "=1+1 sự cố ngày 05/05"
    assert summary["Trong đó: hồ sơ đầy đủ hiển thị số căn cước, số điện thoại"] == 2
    assert (await audit_rows(system, actor="operator-city"))[-1]["purpose"] == "breach_notification"

    as_csv = await c.post(f"{API}/access-history/export.csv", headers=city,
                          json={"member_ids": [system.members[1]["id"]], "account": hostile})
    assert as_csv.status_code == 200 and as_csv.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    assert rows[0] == DETAIL and len(rows) == 2
    assert rows[1][5] == "'" + hostile and HANOI_TIME.fullmatch(rows[1][1]) and rows[1][3] == NAMES[1]


async def unusual_events(nats_url: str) -> list[dict]:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info("SOTAY_MEMBERS", subjects_filter="sotay.members.unusual_record_reads.>")
        count = sum((info.state.subjects or {}).values())
        if not count:
            return []
        sub = await js.pull_subscribe("sotay.members.unusual_record_reads.>", stream="SOTAY_MEMBERS")
        return [{**orjson.loads(m.data), "nats_subject": m.subject} for m in await sub.fetch(count, timeout=5)]
    finally:
        await nc.close()


async def open_alerts(system) -> list[dict]:
    answer = await system.client.get(f"{API}/alerts", headers=system.auth("city_admin"))
    assert answer.status_code == 200, answer.text
    return UnusualReadAlerts.model_validate(answer.json()).model_dump(mode="json")["items"]


async def test_the_alert_fires_once_past_the_threshold_and_names_no_member(system, nats_url):
    c, heavy = system.client, clerk(system, "clerk-heavy", CLERK_CARD)
    # Masked reads and one's own record are not full records opened by staff: never counted.
    secretary = system.auth("cell_secretary", "bd-g1-c1", subject="secretary-busy")
    own = system.auth("member", "bd-g1-c1", card=system.members[0]["party_card_no"], subject="member-an")
    for _ in range(THRESHOLD + 2):
        assert (await c.get(f"{API}/members/{system.members[0]['id']}", headers=secretary)).status_code == 200
        assert (await c.get(f"{API}/members/me", headers=own)).status_code == 200
    for member in system.members[:THRESHOLD]:  # up to the threshold: nothing
        assert (await c.get(f"{API}/members/{member['id']}", headers=heavy)).status_code == 200
    assert await open_alerts(system) == [] and await unusual_events(nats_url) == []

    for member in system.members[THRESHOLD:THRESHOLD + 3]:  # past it: one alert, however many more
        assert (await c.get(f"{API}/members/{member['id']}", headers=heavy)).status_code == 200
    [alert] = await open_alerts(system)
    assert (alert["account"], alert["reader_name"], alert["reader_role"], alert["reader_unit_name"], alert["reads"],
            alert["threshold"]) == ("clerk-heavy", "Đặng Văn Hùng", "unit_admin", "Đảng bộ quận Ba Đình",
                                    THRESHOLD + 1, THRESHOLD)
    [event] = await eventually(lambda: unusual_events(nats_url))
    assert event["nats_subject"] == "sotay.members.unusual_record_reads.city" and event["subject"] == alert["id"]
    assert event["data"] == {"alert_id": alert["id"], "account_id": "clerk-heavy", "reads": THRESHOLD + 1,
                             "threshold": THRESHOLD, "window_start": event["data"]["window_start"],
                             "window_end": event["data"]["window_end"]}
    said = orjson.dumps(event).decode()
    for member in system.members:  # no member read, by id, card, name, citizen ID or phone
        for value in (member["id"], member["party_card_no"], member["full_name"], member["citizen_id"],
                      member["phone"], "Đặng Văn Hùng"):
            assert value not in said

    # The operators close it with what they found; the registry's clerks do not see it.
    refused = await c.post(f"{API}/alerts/{alert['id']}/close", headers=clerk(system, "board-ba-dinh"),
                           json={"note": "x"})
    assert refused.status_code == 403
    assert (await c.get(f"{API}/alerts", headers=clerk(system, "board-ba-dinh"))).status_code == 403
    closed = await c.post(f"{API}/alerts/{alert['id']}/close", headers=system.auth("city_admin", subject="op"),
                          json={"note": "Đã hỏi đồng chí Hùng: rà soát hồ sơ theo kế hoạch."})
    assert closed.status_code == 200 and UnusualReadAlert.model_validate(closed.json()).closed_by == "op"
    again = await c.post(f"{API}/alerts/{alert['id']}/close", headers=system.auth("city_admin"), json={"note": "x"})
    assert again.status_code == 409
    assert await open_alerts(system) == []
    everything = (await c.get(f"{API}/alerts", params={"status": "all"}, headers=system.auth("city_admin"))).json()
    assert [a["note"] for a in everything["items"]] == ["Đã hỏi đồng chí Hùng: rà soát hồ sơ theo kế hoạch."]

    # Which members it opened: the access history of the account over the alert's hour.
    opened = await c.post(f"{API}/access-history", headers=system.auth("city_admin"), json={
        "account": "clerk-heavy", "since": alert["window_start"]})
    assert [m["full_name"] for m in opened.json()["members"]] == NAMES[:THRESHOLD + 3]


async def test_reads_crossing_the_threshold_together_raise_one_alert(system):
    """Two transactions of one account past the threshold at once: the second waits for the first
    on the account's lock, then finds its alert; one alert, not one each."""
    engine = system.runtimes["members"].context.engine
    reader = Reader("clerk-race", "unit_admin", "ba-dinh", None)
    async with engine.connect() as first, engine.connect() as second, engine.connect() as watcher:
        await first.begin()
        await second.begin()
        raised = await audit.raise_unusual_reads(first, uuid7(), reader, THRESHOLD + 1, THRESHOLD)
        waiting = asyncio.create_task(audit.raise_unusual_reads(second, uuid7(), reader, THRESHOLD + 1, THRESHOLD))

        async def blocked():
            return (await watcher.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                                               "AND NOT granted"))).scalar_one()
        await eventually(blocked)
        await first.commit()
        assert raised is not None and await waiting is None
        await second.commit()
    async with engine.connect() as db:
        count = await db.execute(text("SELECT count(*) FROM unusual_reads WHERE actor = 'clerk-race'"))
        assert count.scalar_one() == 1


async def test_a_search_or_a_list_is_audited_with_the_members_it_showed(system):
    """A search result shows names, cards and dates of birth: each page is an audit row naming the
    members shown (what = 'search'), which their access history then lists. An empty page reads
    nobody and writes nothing; the alert counts full records only."""
    searcher = clerk(system, "clerk-search")
    found = await system.client.get(f"{API}/members", params={"q": "tran thi binh"}, headers=searcher)
    assert found.status_code == 200 and [m["full_name"] for m in found.json()["items"]] == ["Trần Thị Bình"]
    listed = await system.client.get(f"{API}/members", params={"unit": "bd-g1-c1", "limit": 3}, headers=searcher)
    assert len(listed.json()["items"]) == 3
    none = await system.client.get(f"{API}/members", params={"q": "khong ai ten the"}, headers=searcher)
    assert none.status_code == 200 and none.json()["items"] == []
    rows = await audit_rows(system, actor="clerk-search")
    assert [(r["what"], r["purpose"], r["actor_role"], r["actor_unit"]) for r in rows] == [
        ("search", "registry", "unit_admin", "ba-dinh")] * 2
    assert rows[0]["member_ids"] == [system.members[1]["id"]]
    assert rows[1]["member_ids"] == [m["id"] for m in listed.json()["items"]]
    history = (await system.client.get(f"{API}/members/{system.members[1]['id']}/reads",
                                       headers=clerk(system, "board-ba-dinh"))).json()
    assert ("clerk-search", "search") in [(r["account"], r["what"]) for r in history["reads"]]
