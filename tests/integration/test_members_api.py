"""The member registry's HTTP API on real servers: org tree, members,
validation, scope, transfers, status, corrections, idempotency, search."""

from __future__ import annotations

import pytest
from sqlalchemy import text

import services.members
from tests.support.system import running_system, make_settings

pytestmark = pytest.mark.integration

MEMBER = {
    "party_card_no": "01.234567", "full_name": "Nguyễn Văn An", "date_of_birth": "1960-05-12",
    "gender": "male", "citizen_id": "001060012345", "phone": "0912 345 678", "unit": "bd-g1-c1",
    "admitted_on": "1985-03-02", "official_on": "1986-03-02", "status": "active", "eligible": True,
}


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    async with running_system([services.members.definition()], settings, nats_url, database_url) as system:
        admin = system.auth("city_admin", "city")
        tree = [
            {"code": "city", "name": "Đảng bộ thành phố Hà Nội", "kind": "city"},
            {"code": "ba-dinh", "name": "Đảng bộ quận Ba Đình", "kind": "committee", "parent": "city", "wave": 1},
            {"code": "bd-g1", "name": "Đảng bộ phường Phúc Xá", "kind": "grassroots", "parent": "ba-dinh"},
            {"code": "bd-g1-c1", "name": "Chi bộ Tổ dân phố số 1", "kind": "cell", "parent": "bd-g1"},
            {"code": "bd-g1-c2", "name": "Chi bộ Tổ dân phố số 2", "kind": "cell", "parent": "bd-g1"},
            {"code": "tay-ho", "name": "Đảng bộ quận Tây Hồ", "kind": "committee", "parent": "city", "wave": 2},
            {"code": "th-g1", "name": "Đảng bộ phường Bưởi", "kind": "grassroots", "parent": "tay-ho"},
            {"code": "th-g1-c1", "name": "Chi bộ Khu dân cư số 5", "kind": "cell", "parent": "th-g1"},
        ]
        for unit in tree:
            response = await system.client.post("/api/members/v1/org-units", json=unit, headers=admin)
            assert response.status_code == 201, response.text
        yield system


async def member_count(system) -> int:
    async with system.runtimes["members"].context.engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM members"))).scalar_one()


async def test_org_units_are_listed_by_kind_and_parent(system):
    response = await system.client.get("/api/members/v1/org-units", params={"parent": "bd-g1"})
    assert [u["code"] for u in response.json()["items"]] == ["bd-g1-c1", "bd-g1-c2"]
    committees = await system.client.get("/api/members/v1/org-units", params={"kind": "committee"})
    assert {u["code"]: u["wave"] for u in committees.json()["items"]} == {"ba-dinh": 1, "tay-ho": 2}
    cell = (await system.client.get("/api/members/v1/org-units/bd-g1-c1")).json()
    assert cell["path"] == ["city", "ba-dinh", "bd-g1", "bd-g1-c1"] and cell["committee"] == "ba-dinh"


async def test_a_cell_cannot_hang_under_a_committee(system):
    response = await system.client.post(
        "/api/members/v1/org-units", json={"code": "bad", "name": "Chi bộ lạc", "kind": "cell", "parent": "ba-dinh"},
        headers=system.auth("city_admin"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == "parent"


async def test_create_member_normalises_and_records_history(system):
    response = await system.client.post("/api/members/v1/members", json=MEMBER,
                                        headers=system.auth("unit_admin", "ba-dinh"))
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["party_card_no"] == "01234567"
    assert body["phone"] == "+84912345678"
    assert body["committee"] == "ba-dinh"
    history = await system.client.get(f"/api/members/v1/members/{body['id']}/history",
                                      headers=system.auth("unit_admin", "ba-dinh"))
    assert [h["action"] for h in history.json()["items"]] == ["created"]


async def test_invalid_member_names_every_field_and_writes_nothing(system):
    before = await member_count(system)
    bad = {**MEMBER, "party_card_no": "12-34", "phone": "12345", "admitted_on": "1975-01-01",
           "official_on": "1974-01-01", "citizen_id": "123"}
    response = await system.client.post("/api/members/v1/members", json=bad,
                                        headers=system.auth("unit_admin", "ba-dinh"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"party_card_no", "phone", "admitted_on", "official_on", "citizen_id"} <= fields
    assert all(e["reason"] for e in response.json()["errors"])
    assert await member_count(system) == before


async def test_duplicate_card_number_is_a_conflict(system):
    response = await system.client.post("/api/members/v1/members", json={**MEMBER, "citizen_id": None},
                                        headers=system.auth("unit_admin", "ba-dinh"))
    assert response.status_code == 409
    assert response.json()["errors"] == [{"field": "party_card_no", "reason": "is already in the registry"}]


async def test_writes_outside_the_callers_subtree_are_forbidden(system):
    before = await member_count(system)
    other = {**MEMBER, "party_card_no": "0199999999", "citizen_id": None, "unit": "th-g1-c1"}
    response = await system.client.post("/api/members/v1/members", json=other,
                                        headers=system.auth("unit_admin", "ba-dinh"))
    assert response.status_code == 403
    no_token = await system.client.post("/api/members/v1/members", json=other)
    assert no_token.status_code == 401
    member_role = await system.client.post("/api/members/v1/members", json=other,
                                           headers=system.auth("member", "tay-ho"))
    assert member_role.status_code == 403
    assert await member_count(system) == before


async def test_search_is_accent_insensitive_and_scoped(system):
    admin = system.auth("unit_admin", "ba-dinh")
    for query in ("nguyen van an", "NGUYỄN văn", "01.234567"):
        response = await system.client.get("/api/members/v1/members", params={"q": query}, headers=admin)
        assert [m["full_name"] for m in response.json()["items"]] == ["Nguyễn Văn An"], query
    assert response.json()["items"][0]["unit_name"] == "Chi bộ Tổ dân phố số 1"  # namesakes told apart
    for query in ("nguyen van an", "01.234567", "0912345678", "+84 912 345 678"):  # a phone: in a body only
        response = await system.client.post("/api/members/v1/members/search", json={"q": query}, headers=admin)
        assert [m["full_name"] for m in response.json()["items"]] == ["Nguyễn Văn An"], query
    # In a URL, a number is a card number: a phone is not searched there, and one that is only a phone is refused.
    as_card = await system.client.get("/api/members/v1/members", params={"q": "0912345678"}, headers=admin)
    assert as_card.status_code == 200 and as_card.json()["items"] == []
    in_url = await system.client.get("/api/members/v1/members", params={"q": "+84912345678"}, headers=admin)
    assert in_url.status_code == 422 and in_url.json()["errors"][0]["field"] == "q"
    elsewhere = await system.client.get("/api/members/v1/members", params={"q": "nguyen"},
                                        headers=system.auth("unit_admin", "tay-ho"))
    assert elsewhere.json()["items"] == []


async def test_search_pages_with_a_cursor(system):
    admin = system.auth("unit_admin", "ba-dinh")
    for i in range(5):
        member = {**MEMBER, "party_card_no": f"0200000{i:03d}", "citizen_id": None, "phone": None,
                  "full_name": f"Trần Thị Bình {chr(65 + i)}", "unit": "bd-g1-c2", "gender": "female"}
        assert (await system.client.post("/api/members/v1/members", json=member, headers=admin)).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"q": "tran thi binh", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await system.client.get("/api/members/v1/members", params=params, headers=admin)).json()
        seen += [m["full_name"] for m in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == [f"Trần Thị Bình {chr(65 + i)}" for i in range(5)]


async def test_transfer_and_status_change_keep_history(system):
    admin = system.auth("city_admin", "city")
    member = (await system.client.get("/api/members/v1/members", params={"q": "01234567"}, headers=admin)).json()
    member_id = member["items"][0]["id"]
    moved = await system.client.post(f"/api/members/v1/members/{member_id}/transfers",
                                     json={"to_unit": "th-g1-c1", "kind": "official", "reason": "chuyển nơi ở"},
                                     headers=admin)
    assert moved.status_code == 200, moved.text
    assert moved.json()["unit"] == "th-g1-c1" and moved.json()["committee"] == "tay-ho"
    exempt = await system.client.post(f"/api/members/v1/members/{member_id}/status",
                                      json={"status": "exempt", "eligible": False,
                                            "ineligible_reason": "miễn sinh hoạt đảng", "reason": "tuổi cao"},
                                      headers=admin)
    assert exempt.status_code == 200, exempt.text
    assert exempt.json()["status"] == "exempt" and exempt.json()["eligible"] is False
    history = (await system.client.get(f"/api/members/v1/members/{member_id}/history", headers=admin)).json()
    actions = [h["action"] for h in history["items"]]
    assert actions == ["created", "transferred_official", "status_changed"]
    assert history["items"][1]["changes"] == {"from": "bd-g1-c1", "to": "th-g1-c1"}
    assert history["items"][1]["reason"] == "chuyển nơi ở"
    # The old committee's admin no longer covers the member.
    old = await system.client.get(f"/api/members/v1/members/{member_id}", headers=system.auth("unit_admin", "ba-dinh"))
    assert old.status_code == 403


async def test_correction_request_accepted_becomes_an_update(system):
    admin = system.auth("unit_admin", "ba-dinh")
    member = {**MEMBER, "party_card_no": "0300000001", "citizen_id": None, "phone": None,
              "full_name": "Lê Thị Hoa", "gender": "female"}
    created = (await system.client.post("/api/members/v1/members", json=member, headers=admin)).json()
    own = system.auth("member", "bd-g1-c1", card="0300000001")
    someone_else = system.auth("member", "bd-g1-c1", card="0200000001")
    proposal = {"changes": {"full_name": "Lê Thị Hòa"}, "note": "sai dấu"}
    refused = await system.client.post(f"/api/members/v1/members/{created['id']}/corrections", json=proposal,
                                       headers=someone_else)
    assert refused.status_code == 403
    request = await system.client.post(f"/api/members/v1/members/{created['id']}/corrections", json=proposal,
                                       headers=own)
    assert request.status_code == 201, request.text
    queue = (await system.client.get("/api/members/v1/corrections", headers=admin)).json()["items"]
    assert [c["id"] for c in queue] == [request.json()["id"]]
    assert queue[0]["current"] == {"full_name": "Lê Thị Hoa"}  # shown beside the proposed value
    no_reason = await system.client.post(f"/api/members/v1/corrections/{request.json()['id']}/reject", json={},
                                         headers=admin)
    assert no_reason.status_code == 422
    accepted = await system.client.post(f"/api/members/v1/corrections/{request.json()['id']}/accept", json={},
                                        headers=admin)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    mine = (await system.client.get("/api/members/v1/members/me", headers=own)).json()
    assert mine["full_name"] == "Lê Thị Hòa"


async def test_idempotency_key_replays_the_first_answer(system):
    admin = system.auth("unit_admin", "ba-dinh")
    member = {**MEMBER, "party_card_no": "0400000001", "citizen_id": None, "phone": None}
    headers = {**admin, "Idempotency-Key": "retry-1"}
    first = await system.client.post("/api/members/v1/members", json=member, headers=headers)
    second = await system.client.post("/api/members/v1/members", json=member, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert second.headers.get("idempotent-replayed") == "true"
    other_body = await system.client.post("/api/members/v1/members", json={**member, "full_name": "Khác Tên"},
                                          headers=headers)
    assert other_body.status_code == 422


async def test_each_service_serves_openapi_asyncapi_and_health(system):
    openapi = (await system.client.get("/api/members/v1/openapi.json")).json()
    assert "/api/members/v1/members" in openapi["paths"]
    asyncapi = (await system.client.get("/api/members/v1/asyncapi")).json()
    assert asyncapi["asyncapi"].startswith("3.")
    assert any("member_registered" in ch["address"] for ch in asyncapi["channels"].values())
    html = (await system.client.get("/api/members/v1/asyncapi.html")).text
    # Written by the service (sotay/kit/asyncapi_page.py): no viewer script from a CDN.
    assert "sotay.members.member_registered.{committee}" in html and "<script" not in html
    assert (await system.client.get("/readyz")).json()["ready"] is True
    assert (await system.client.get("/api/members/v1/healthz")).status_code == 200


async def test_units_are_renamed_and_closed_only_when_empty(system):
    admin = system.auth("unit_admin", "ba-dinh")
    renamed = await system.client.patch("/api/members/v1/org-units/bd-g1-c2",
                                        json={"name": "Chi bộ Tổ dân phố số 2 (mới)"}, headers=admin)
    assert renamed.status_code == 200 and renamed.json()["name"] == "Chi bộ Tổ dân phố số 2 (mới)"
    assert renamed.json()["version"] == 2
    refused = await system.client.patch("/api/members/v1/org-units/bd-g1-c2", json={"closed": True}, headers=admin)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "closed"
    created = await system.client.post(
        "/api/members/v1/org-units", json={"code": "bd-g1-c9", "name": "Chi bộ tạm", "kind": "cell", "parent": "bd-g1"},
        headers=admin)
    assert created.status_code == 201
    closed = await system.client.patch("/api/members/v1/org-units/bd-g1-c9", json={"closed": True}, headers=admin)
    assert closed.status_code == 200 and closed.json()["closed"] is True
    outsider = await system.client.patch("/api/members/v1/org-units/th-g1-c1", json={"name": "Đổi tên"},
                                         headers=admin)
    assert outsider.status_code == 403


async def test_units_are_found_by_name_accents_optional(system):
    def codes(response):
        assert response.status_code == 200, response.text
        return [u["code"] for u in response.json()["items"]]

    listed = lambda **params: system.client.get("/api/members/v1/org-units", params=params)  # noqa: E731
    assert codes(await listed(kind="cell", q="to dan pho so 2")) == ["bd-g1-c2"]
    assert codes(await listed(kind="cell", q="TỔ DÂN PHỐ")) == ["bd-g1-c1", "bd-g1-c2"]
    assert codes(await listed(q="tay ho")) == ["tay-ho"]
    assert codes(await listed(q="đảng bộ phường bưởi")) == ["th-g1"]
    assert codes(await listed(kind="cell", q="th-g1-c1")) == ["th-g1-c1"]  # a code still finds it
    assert codes(await listed(kind="cell", q="100%_")) == []  # LIKE's wildcards are plain letters here
    assert (await listed(q="x" * 101)).status_code == 422


async def test_a_correction_shows_the_current_value_masked_to_a_cell_secretary(system):
    admin = system.auth("unit_admin", "ba-dinh")
    member = {**MEMBER, "party_card_no": "0300000077", "citizen_id": None, "phone": "0912 000 777",
              "full_name": "Đỗ Thị Mai", "gender": "female", "unit": "bd-g1-c2"}
    created = await system.client.post("/api/members/v1/members", json=member, headers=admin)
    assert created.status_code == 201, created.text
    own = system.auth("member", "bd-g1-c2", card="0300000077")
    asked = await system.client.post(f"/api/members/v1/members/{created.json()['id']}/corrections",
                                     json={"changes": {"phone": "0912 000 888"}}, headers=own)
    assert asked.status_code == 201, asked.text

    def of(items):
        return next(c for c in items if c["id"] == asked.json()["id"])
    writer = of((await system.client.get("/api/members/v1/corrections", headers=admin)).json()["items"])
    assert writer["current"] == {"phone": "+84912000777"}
    secretary = of((await system.client.get("/api/members/v1/corrections",
                                            headers=system.auth("cell_secretary", "bd-g1-c2"))).json()["items"])
    assert secretary["current"] == {"phone": "*******777"} and secretary["changes"]["phone"].endswith("*888")
    other = (await system.client.get("/api/members/v1/corrections", headers=system.auth("cell_secretary", "th-g1-c1")))
    assert all(c["id"] != asked.json()["id"] for c in other.json().get("items", []))
    mine = (await system.client.get("/api/members/v1/me/corrections", headers=own)).json()["items"]
    assert "phone" not in mine[0] and "citizen_id" not in mine[0]  # the record's identifiers stay out of it
