"""A member's own correction requests and how each was decided (GET /me/corrections, issue 18):
only the caller's own, named by the card in their token (nothing they send chooses the member),
the deciding staff account not shown, and each read audited."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import services.members
from tests.support.system import make_settings, running_system

pytestmark = pytest.mark.integration

MINE = "/api/members/v1/me/corrections"


def member(card: str, name: str) -> dict:
    return {"party_card_no": card, "full_name": name, "date_of_birth": "1951-06-01", "gender": "female",
            "citizen_id": None, "phone": "0971102705", "unit": "c1", "status": "active", "eligible": True}


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with running_system([services.members.definition()], make_settings(data_dir), nats_url,
                              database_url) as system:
        admin = system.auth("city_admin", "city")
        for unit in ({"code": "city", "name": "Thành phố", "kind": "city"},
                     {"code": "q1", "name": "Quận Một", "kind": "committee", "parent": "city", "wave": 1},
                     {"code": "g1", "name": "Đảng bộ phường Một", "kind": "grassroots", "parent": "q1"},
                     {"code": "c1", "name": "Chi bộ số 1", "kind": "cell", "parent": "g1"}):
            assert (await system.client.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201
        yield system


async def test_a_member_sees_their_own_requests_and_how_they_were_decided(system):
    c, admin = system.client, system.auth("unit_admin", "q1")
    hoa = (await c.post("/api/members/v1/members", json=member("0500000001", "Lê Thị Hoa"), headers=admin)).json()
    lan = (await c.post("/api/members/v1/members", json=member("0500000002", "Phạm Thị Lan"), headers=admin)).json()
    own = system.auth("member", "c1", card="0500000001", subject="account-hoa")
    other = system.auth("member", "c1", card="0500000002", subject="account-lan")

    assert (await c.get(MINE, headers=own)).json() == {"items": []}
    first = await c.post(f"/api/members/v1/members/{hoa['id']}/corrections",
                         json={"changes": {"full_name": "Lê Thị Hòa"}, "note": "sai dấu"}, headers=own)
    second = await c.post(f"/api/members/v1/members/{hoa['id']}/corrections",
                          json={"changes": {"date_of_birth": "1951-06-02"}}, headers=own)
    theirs = await c.post(f"/api/members/v1/members/{lan['id']}/corrections",
                          json={"changes": {"full_name": "Phạm Thị Lân"}}, headers=other)
    assert {first.status_code, second.status_code, theirs.status_code} == {201}
    rejected = await c.post(f"/api/members/v1/corrections/{second.json()['id']}/reject",
                            json={"reason": "Khác với lý lịch đảng viên"}, headers=admin)
    assert rejected.status_code == 200, rejected.text

    mine = (await c.get(MINE, headers=own)).json()["items"]
    assert [(i["id"], i["status"]) for i in mine] == [(first.json()["id"], "pending"),
                                                      (second.json()["id"], "rejected")]
    assert mine[1]["decision_reason"] == "Khác với lý lịch đảng viên" and mine[1]["decided_at"]
    assert mine[1]["decided_by"] is None  # which staff account decided is not shown to the member
    assert [i["id"] for i in (await c.get(MINE, headers=other)).json()["items"]] == [theirs.json()["id"]]

    async with system.runtimes["members"].context.engine.connect() as db:
        reads = (await db.execute(text(
            "SELECT actor, what, member_ids FROM record_reads WHERE actor = 'account-hoa' AND what = 'corrections'"
        ))).all()
    assert [(r.what, [str(m) for m in r.member_ids]) for r in reads][-1] == ("corrections", [hoa["id"]])


async def test_my_corrections_are_refused_without_a_member_token(system):
    c = system.client
    assert (await c.get(MINE)).status_code == 401
    assert (await c.get(MINE, headers={"Authorization": "Bearer not-a-token"})).status_code == 401
    staff = await c.get(MINE, headers=system.auth("unit_admin", "q1"))  # staff, no member card in the token
    assert staff.status_code == 403 and staff.json()["code"] == "forbidden"
    # A card with no record in the registry: nothing to show, and no one else's.
    stranger = await c.get(MINE, headers=system.auth("member", "c1", card="0599999999"))
    assert stranger.status_code == 404 and stranger.json()["code"] == "not_found"
    # Nothing the caller sends chooses the member.
    asked = await c.get(f"{MINE}?member_id=anything&card=0500000001",
                        headers=system.auth("member", "c1", card="0599999999"))
    assert asked.status_code == 404
