"""The data-subject request ledger (issue 19): a member asks in their own words and sees the
deadlines (2 working days to acknowledge, 15 days to complete); registry writers over the member's
unit acknowledge, extend once by at most 15 days with a reason, complete or refuse in plain words;
another committee's staff cannot; the units above see their subtree's overdue requests; a request
to erase the registry is refused with the reason shown to the member; correction requests are
entries of the same ledger."""

from __future__ import annotations

from datetime import date, timedelta

import orjson
import pytest
from sqlalchemy import text

import services.members
from services.members.handlers import subject_requests
from sotay.kit import workdays
from sotay.kit.clock import hanoi_day
from tests.support.system import make_settings, running_system

pytestmark = pytest.mark.integration

MINE = "/api/members/v1/me/requests"
STAFF = "/api/members/v1/subject-requests"
REGISTRY_KEPT = ("Hồ sơ đảng viên được lưu giữ theo Điều lệ và quy định của Đảng nên không thể xoá. "
                 "Đồng chí có thể yêu cầu hạn chế việc xem hồ sơ.")


def member(card: str, name: str, unit: str) -> dict:
    return {"party_card_no": card, "full_name": name, "date_of_birth": "1951-06-01", "gender": "female",
            "citizen_id": None, "phone": "0971102705", "unit": unit, "status": "active", "eligible": True}


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with running_system([services.members.definition()], make_settings(data_dir), nats_url,
                              database_url) as system:
        admin = system.auth("city_admin", "city")
        for unit in ({"code": "city", "name": "Thành phố", "kind": "city"},
                     {"code": "q1", "name": "Quận Một", "kind": "committee", "parent": "city", "wave": 1},
                     {"code": "g1", "name": "Đảng bộ phường Một", "kind": "grassroots", "parent": "q1"},
                     {"code": "c1", "name": "Chi bộ số 1", "kind": "cell", "parent": "g1"},
                     {"code": "q2", "name": "Quận Hai", "kind": "committee", "parent": "city", "wave": 1},
                     {"code": "g2", "name": "Đảng bộ phường Hai", "kind": "grassroots", "parent": "q2"},
                     {"code": "c2", "name": "Chi bộ số 2", "kind": "cell", "parent": "g2"}):
            assert (await system.client.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201
        for card, name, unit in (("0600000001", "Lê Thị Hoa", "c1"), ("0600000002", "Trần Văn Nam", "c1"),
                                 ("0600000003", "Phạm Văn Bình", "c2")):
            created = await system.client.post("/api/members/v1/members", json=member(card, name, unit), headers=admin)
            assert created.status_code == 201, created.text
        yield system


def hoa(system):
    return system.auth("member", "c1", card="0600000001", subject="account-hoa")


async def test_a_request_gets_its_deadlines_and_the_unit_answers_it(system):
    c, q1 = system.client, system.auth("unit_admin", "g1")
    asked = await c.post(MINE, json={"kind": "restriction", "asked": "Xin hạn chế người xem số điện thoại của tôi"},
                         headers=hoa(system) | {"Idempotency-Key": "ask-1"})
    assert asked.status_code == 201, asked.text
    r = asked.json()
    ack, due = workdays.calendar().deadlines(hanoi_day())
    assert (r["status"], r["acknowledge_by"], r["due_by"]) == ("received", ack.isoformat(), due.isoformat())
    assert r["unit_name"] == "Chi bộ số 1" and not r["overdue"] and "requested_by" not in r
    again = await c.post(MINE, json={"kind": "restriction", "asked": "Xin hạn chế người xem số điện thoại của tôi"},
                         headers=hoa(system) | {"Idempotency-Key": "ask-1"})
    assert again.json()["id"] == r["id"]  # a retry does not ask twice

    # Another committee's staff neither see nor act on it.
    other = system.auth("unit_admin", "q2")
    assert r["id"] not in [i["id"] for i in (await c.get(STAFF, headers=other)).json()["items"]]
    refused = await c.post(f"{STAFF}/{r['id']}/acknowledge", headers=other)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    # Nor does a cell secretary, nor the member themself.
    assert (await c.post(f"{STAFF}/{r['id']}/acknowledge",
                         headers=system.auth("cell_secretary", "c1"))).status_code == 403
    listed = [i for i in (await c.get(STAFF, headers=q1)).json()["items"] if i["id"] == r["id"]]
    assert listed[0]["full_name"] == "Lê Thị Hoa" and listed[0]["can_act"] is True
    # Reading the list (names, cards, the members' own words) is audited, as a correction list is.
    async with system.runtimes["members"].context.engine.connect() as db:
        audited = (await db.execute(text(
            "SELECT what, purpose FROM record_reads WHERE CAST(:m AS uuid) = ANY(member_ids) AND what = 'requests'"),
            {"m": listed[0]["member_id"]})).all()
    assert [tuple(a) for a in audited] == [("requests", "request_review")]

    acknowledged = await c.post(f"{STAFF}/{r['id']}/acknowledge", headers=q1)
    assert acknowledged.status_code == 200 and acknowledged.json()["status"] == "acknowledged"
    assert (await c.post(f"{STAFF}/{r['id']}/acknowledge", headers=q1)).status_code == 409

    too_long = await c.post(f"{STAFF}/{r['id']}/extend", json={"days": 16, "reason": "Cần xác minh"}, headers=q1)
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "days"
    no_reason = await c.post(f"{STAFF}/{r['id']}/extend", json={"days": 10, "reason": "  "}, headers=q1)
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"
    extended = await c.post(f"{STAFF}/{r['id']}/extend", json={"days": 15, "reason": "Cần hỏi ý kiến cấp ủy"},
                            headers=q1)
    assert extended.status_code == 200, extended.text
    assert extended.json()["extended_to"] == (due + timedelta(days=15)).isoformat()
    twice = await c.post(f"{STAFF}/{r['id']}/extend", json={"days": 1, "reason": "Thêm"}, headers=q1)
    assert twice.status_code == 409

    done = await c.post(f"{STAFF}/{r['id']}/complete",
                        json={"outcome": "Chỉ bí thư chi bộ xem được số điện thoại của đồng chí."}, headers=q1)
    assert done.status_code == 200 and done.json()["status"] == "completed"
    assert (await c.post(f"{STAFF}/{r['id']}/refuse", json={"reason": "x"}, headers=q1)).status_code == 409
    mine = [i for i in (await c.get(MINE, headers=hoa(system))).json()["items"] if i["id"] == r["id"]][0]
    assert mine["outcome"] == "Chỉ bí thư chi bộ xem được số điện thoại của đồng chí."
    assert mine["extension_reason"] == "Cần hỏi ý kiến cấp ủy" and "decided_by" not in mine


async def test_erasure_of_the_registry_is_refused_in_plain_words(system):
    c, q1 = system.client, system.auth("unit_admin", "q1")
    r = (await c.post(MINE, json={"kind": "erasure", "asked": "Xin xoá toàn bộ hồ sơ của tôi"},
                      headers=hoa(system))).json()
    blank = await c.post(f"{STAFF}/{r['id']}/refuse", json={"reason": " "}, headers=q1)
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "reason"
    refused = await c.post(f"{STAFF}/{r['id']}/refuse", json={"reason": REGISTRY_KEPT}, headers=q1)
    assert refused.status_code == 200 and refused.json()["status"] == "refused"
    mine = [i for i in (await c.get(MINE, headers=hoa(system))).json()["items"] if i["id"] == r["id"]][0]
    assert (mine["status"], mine["outcome"]) == ("refused", REGISTRY_KEPT)
    assert mine["acknowledged_at"]  # refusing answers it too


async def test_overdue_requests_are_flagged_to_the_units_above(system):
    c = system.client
    nam = system.auth("member", "c1", card="0600000002", subject="account-nam")
    late = (await c.post(MINE, json={"kind": "objection", "asked": "Tôi phản đối dùng ảnh của tôi"},
                         headers=nam)).json()
    fresh = (await c.post(MINE, json={"kind": "other", "asked": "Hỏi thêm"}, headers=nam)).json()
    today = hanoi_day()
    async with system.runtimes["members"].context.engine.begin() as db:
        await db.execute(text(
            "UPDATE subject_requests SET received_at = now() - interval '20 days', acknowledge_by = :ack, "
            "due_by = :due WHERE id = :id"),
            {"ack": today - timedelta(days=17), "due": today - timedelta(days=5), "id": late["id"]})
    for above in (system.auth("unit_admin", "q1"), system.auth("city_admin", "city")):
        overdue = (await c.get(f"{STAFF}?overdue=true", headers=above)).json()["items"]
        assert late["id"] in [i["id"] for i in overdue] and fresh["id"] not in [i["id"] for i in overdue]
        everything = (await c.get(STAFF, headers=above)).json()["items"]
        assert everything[0]["overdue"] is True  # the overdue first
    assert late["id"] not in [i["id"] for i in
                              (await c.get(f"{STAFF}?overdue=true", headers=system.auth("unit_admin", "q2"))).json()["items"]]
    mine = {i["id"]: i["overdue"] for i in (await c.get(MINE, headers=nam)).json()["items"]}
    assert mine[late["id"]] is True and mine[fresh["id"]] is False
    # Acknowledged but past its due day: still overdue until completed.
    assert (await c.post(f"{STAFF}/{late['id']}/acknowledge", headers=system.auth("unit_admin", "c1"))).status_code == 200
    overdue = (await c.get(f"{STAFF}?overdue=true", headers=system.auth("unit_admin", "q1"))).json()["items"]
    assert late["id"] in [i["id"] for i in overdue]

    # Issue 20: an overdue request escalates to the unit above its member's cell, once, with ids only.
    ctx = system.runtimes["members"].context
    assert await subject_requests.escalate(ctx) >= 1
    assert await subject_requests.escalate(ctx) == 0
    async with ctx.engine.connect() as db:
        marked = (await db.execute(text("SELECT escalated_to FROM subject_requests WHERE id = :i"),
                                   {"i": late["id"]})).scalar_one()
        not_yet = (await db.execute(text("SELECT escalated_at FROM subject_requests WHERE id = :i"),
                                    {"i": fresh["id"]})).scalar_one()
        said = [(orjson.loads(b), subject) for b, subject in await db.execute(text(
            "SELECT body, subject FROM outbox WHERE subject LIKE 'sotay.members.subject_request_escalated.%'"))]
    assert marked == "g1" and not_yet is None
    event, subject = next((e, s) for e, s in said if e["data"]["request_id"] == late["id"])
    assert subject == "sotay.members.subject_request_escalated.q1" and event["orgunit"] == "g1"
    assert event["data"] == {"request_id": late["id"], "unit": "c1", "escalated_to": "g1",
                             "overdue_since": (today - timedelta(days=5)).isoformat()}
    assert "phản đối" not in orjson.dumps(event).decode()


async def test_a_correction_request_is_an_entry_of_the_ledger(system):
    c, q1 = system.client, system.auth("unit_admin", "q1")
    hoa_id = (await c.get("/api/members/v1/members/me", headers=hoa(system))).json()["id"]
    correction = await c.post(f"/api/members/v1/members/{hoa_id}/corrections",
                              json={"changes": {"full_name": "Lê Thị Hòa"}, "note": "Tên tôi có dấu huyền"},
                              headers=hoa(system))
    assert correction.status_code == 201, correction.text
    entry = [i for i in (await c.get(MINE, headers=hoa(system))).json()["items"]
             if i["correction_id"] == correction.json()["id"]][0]
    assert (entry["kind"], entry["asked"], entry["status"]) == ("correction", "Tên tôi có dấu huyền", "received")
    assert entry["due_by"] == (date.fromisoformat(entry["received_at"][:10]) + timedelta(days=15)).isoformat() \
        or entry["due_by"] == (hanoi_day() + timedelta(days=15)).isoformat()
    # Decided as a correction, not through the ledger.
    assert (await c.post(f"{STAFF}/{entry['id']}/complete", json={"outcome": "x"}, headers=q1)).status_code == 409
    rejected = await c.post(f"/api/members/v1/corrections/{correction.json()['id']}/reject",
                            json={"reason": "Tên trong lý lịch đảng viên không có dấu huyền"}, headers=q1)
    assert rejected.status_code == 200, rejected.text
    entry = [i for i in (await c.get(MINE, headers=hoa(system))).json()["items"] if i["id"] == entry["id"]][0]
    assert (entry["status"], entry["outcome"]) == ("refused", "Tên trong lý lịch đảng viên không có dấu huyền")


async def test_bad_requests_and_strangers_are_refused(system):
    c = system.client
    bad = await c.post(MINE, json={"kind": "delete-everything", "asked": "x"}, headers=hoa(system))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "kind"
    blank = await c.post(MINE, json={"kind": "other", "asked": "   "}, headers=hoa(system))
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "asked"
    assert (await c.post(MINE, json={"kind": "other", "asked": "x"})).status_code == 401
    staff = await c.post(MINE, json={"kind": "other", "asked": "x"}, headers=system.auth("unit_admin", "q1"))
    assert staff.status_code == 403
    assert (await c.get(STAFF, headers=hoa(system))).status_code == 403
    assert (await c.post(f"{STAFF}/not-a-uuid/acknowledge", headers=system.auth("unit_admin", "q1"))).status_code == 422
