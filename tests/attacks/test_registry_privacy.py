"""Personal data in the member registry: masked for readers who are not registry writers,
every read audited, audit rows never changed.

Readers who are not registry writers (cell secretaries) see citizen IDs and phones masked, in
the record, its history and the correction list; every read of a record, its history, a
correction list or one's own record is audited, one row per read; not even the service's own
connection changes or deletes an audit row.
"""

from __future__ import annotations

import uuid

import httpx
import orjson
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.attacks.problems import assert_problem

pytestmark = pytest.mark.integration

CLEAR = {"citizen_id": "001088012345", "phone": "+84987654705"}
MASKED = {"citizen_id": "********2345", "phone": "*******705"}


def call(world, method: str, path: str, headers: dict[str, str], body: dict | None = None) -> httpx.Response:
    return httpx.request(method, f"{world.base_url}/api/members/v1{path}", headers=headers, json=body, timeout=30)


@pytest.fixture(scope="module")
def hoa(world) -> dict:
    """A member of bd-g1-c1 with a citizen ID and a phone, whose phone was changed once."""
    admin = world.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh")
    created = call(world, "POST", "/members", admin, {
        "party_card_no": "0100000501", "full_name": "Đỗ Thị Hoa", "date_of_birth": "1980-05-06",
        "gender": "female", "citizen_id": CLEAR["citizen_id"], "phone": "0912 000 705", "unit": "bd-g1-c1"})
    assert created.status_code == 201, created.text
    changed = call(world, "PATCH", f"/members/{created.json()['id']}", admin, {"phone": "0987 654 705"})
    assert changed.status_code == 200, changed.text
    return changed.json()


def ask_correction(world, who: str, changes: dict) -> httpx.Response:
    return call(world, "POST", f"/members/{world.ids[f'member_{who}']}/corrections", world.member_auth(who),
                {"changes": changes, "note": "nhờ sửa"})


# --- masking --------------------------------------------------------------------------------------


def secretary(world) -> dict[str, str]:
    return world.auth("cell_secretary", "bd-g1-c1", subject="secretary-bd-g1-c1")


def assert_nothing_in_clear(response: httpx.Response) -> None:
    body = response.content.decode()
    for value in (CLEAR["citizen_id"], CLEAR["phone"], "0987654705", "0912000705", "+84912000705", "0912 888 003"):
        assert value not in body, f"{value} in {body}"


def test_a_cell_secretary_sees_citizen_id_and_phone_masked(world, hoa):
    record = call(world, "GET", f"/members/{hoa['id']}", secretary(world))
    assert record.status_code == 200, record.text
    assert {k: record.json()[k] for k in MASKED} == MASKED
    assert_nothing_in_clear(record)
    writer = call(world, "GET", f"/members/{hoa['id']}", world.auth("unit_admin", "ba-dinh"))
    assert {k: writer.json()[k] for k in CLEAR} == CLEAR


def test_a_cell_secretary_sees_history_values_masked(world, hoa):
    history = call(world, "GET", f"/members/{hoa['id']}/history", secretary(world))
    assert history.status_code == 200, history.text
    assert_nothing_in_clear(history)
    created, updated = history.json()["items"][:2]
    assert created["changes"]["citizen_id"] == MASKED["citizen_id"]
    assert created["changes"]["phone"] == "*******705"
    assert updated["changes"]["phone"] == {"from": "*******705", "to": "*******705"}
    writer = call(world, "GET", f"/members/{hoa['id']}/history", world.auth("unit_admin", "ba-dinh"))
    assert writer.json()["items"][1]["changes"]["phone"] == {"from": "+84912000705", "to": CLEAR["phone"]}


def test_a_cell_secretary_sees_proposed_changes_masked(world):
    asked = ask_correction(world, "an", {"phone": "0912 888 003", "citizen_id": "001 088 099 887"})
    assert asked.status_code == 201, asked.text
    listed = call(world, "GET", "/corrections", secretary(world))
    assert listed.status_code == 200, listed.text
    assert_nothing_in_clear(listed)
    mine = [c for c in listed.json()["items"] if c["id"] == asked.json()["id"]]
    assert mine and mine[0]["changes"] == {"phone": "*******003", "citizen_id": "********9887"}
    writer = call(world, "GET", "/corrections", world.auth("unit_admin", "ba-dinh"))
    theirs = [c for c in writer.json()["items"] if c["id"] == asked.json()["id"]]
    assert theirs[0]["changes"] == {"phone": "0912 888 003", "citizen_id": "001 088 099 887"}


# --- audit ---------------------------------------------------------------------------------------


def audit_rows(world, since: int) -> list[dict]:
    rows = world.scalar("members", "SELECT coalesce(json_agg(r ORDER BY r.id), '[]') FROM "
                        "(SELECT id, actor, what, member_ids, masked FROM record_reads WHERE id > :since) r",
                        since=since)
    return orjson.loads(rows) if isinstance(rows, str) else rows


def last_audit_id(world) -> int:
    return world.scalar("members", "SELECT coalesce(max(id), 0) FROM record_reads")


def test_every_read_of_a_record_its_history_or_corrections_is_audited_once(world, hoa):
    admin = world.auth("unit_admin", "ba-dinh", subject="auditor-ba-dinh")
    since = last_audit_id(world)
    assert call(world, "GET", f"/members/{hoa['id']}", admin).status_code == 200
    assert call(world, "GET", f"/members/{hoa['id']}/history", admin).status_code == 200
    listed = call(world, "GET", "/corrections", admin)
    assert listed.status_code == 200 and listed.json()["items"]
    rows = audit_rows(world, since)
    assert [(r["actor"], r["what"], r["masked"]) for r in rows] == [
        ("auditor-ba-dinh", "record", False), ("auditor-ba-dinh", "history", False),
        ("auditor-ba-dinh", "corrections", False)]
    assert rows[0]["member_ids"] == [hoa["id"]] and rows[1]["member_ids"] == [hoa["id"]]
    assert sorted(rows[2]["member_ids"]) == sorted({c["member_id"] for c in listed.json()["items"]})


def test_a_members_own_record_is_audited_as_a_self_read(world):
    since = last_audit_id(world)
    own = call(world, "GET", "/members/me", world.member_auth("an"))
    assert own.status_code == 200, own.text
    assert [(r["actor"], r["what"], r["member_ids"]) for r in audit_rows(world, since)] == [
        ("account-an", "self", [world.ids["member_an"]])]


def test_masked_reads_are_audited_as_masked(world, hoa):
    since = last_audit_id(world)
    assert call(world, "GET", f"/members/{hoa['id']}", secretary(world)).status_code == 200
    assert [(r["what"], r["masked"]) for r in audit_rows(world, since)] == [("record", True)]


def test_a_read_refused_or_of_nothing_leaves_no_audit_row(world, hoa):
    since = last_audit_id(world)
    refused = call(world, "GET", f"/members/{hoa['id']}", world.auth("cell_secretary", "th-g1-c1"))
    assert refused.status_code == 403
    missing = call(world, "GET", f"/members/{uuid.uuid4()}/history", world.auth("city_admin"))
    assert missing.status_code == 404
    empty = call(world, "GET", "/corrections", world.auth("unit_admin", "tay-ho"), None)
    assert empty.status_code == 200 and empty.json()["items"] == []
    assert audit_rows(world, since) == []


def test_the_services_own_connection_cannot_change_or_delete_audit_rows(world, hoa):
    """All-in-one, the service connects as the owner of its tables (here, a superuser): a trigger refuses it."""
    call(world, "GET", f"/members/{hoa['id']}", world.auth("unit_admin", "ba-dinh"))
    before = world.digest("members")

    async def attempt(sql: str) -> None:
        async with world.engine("members").begin() as db:
            await db.execute(text(sql))
    for table in ("record_reads", "member_history"):
        for sql in (f"UPDATE {table} SET actor = 'someone else'", f"DELETE FROM {table}", f"TRUNCATE {table}"):
            with pytest.raises(DBAPIError, match="audit trail"):
                world.run(attempt(sql))
    assert world.digest("members") == before


# --- phones stay out of URLs ----------------------------------------------------------------------


def test_a_phone_is_searched_in_a_body_not_in_a_url(world, hoa):
    """A URL is written down by every proxy on its way (nginx's access log, the ingress's): a search by
    phone goes in a POST body. In a GET, a number is searched as a card number only (a mobile number
    is also a valid card number), and one that can only be a phone is refused, saying where to go."""
    admin = world.auth("unit_admin", "ba-dinh")
    for query in ("0987654705", "0987 654 705", "+84 987 654 705", "+84987654705"):
        in_url = httpx.get(f"{world.base_url}/api/members/v1/members", params={"q": query}, headers=admin)
        if query.startswith("+"):
            problem = assert_problem(in_url.status_code, in_url.headers, in_url.content, field="q")
            assert in_url.status_code == 422 and "POST /api/members/v1/members/search" in problem["errors"][0]["reason"]
        else:
            assert in_url.status_code == 200 and in_url.json()["items"] == [], in_url.text
        found = call(world, "POST", "/members/search", admin, {"q": query})
        assert found.status_code == 200, found.text
        assert [m["id"] for m in found.json()["items"]] == [hoa["id"]]
    by_name = httpx.get(f"{world.base_url}/api/members/v1/members", params={"q": "do thi hoa"}, headers=admin)
    assert [m["id"] for m in by_name.json()["items"]] == [hoa["id"]]
    by_card = call(world, "POST", "/members/search", admin, {"q": hoa["party_card_no"], "unit": "bd-g1-c1"})
    assert [m["id"] for m in by_card.json()["items"]] == [hoa["id"]]
    outside = call(world, "POST", "/members/search", world.auth("unit_admin", "tay-ho"), {"q": "0987654705"})
    assert outside.status_code == 200 and outside.json()["items"] == []
    nobody = call(world, "POST", "/members/search", world.member_auth("an"), {"q": "0987654705"})
    assert nobody.status_code == 403
