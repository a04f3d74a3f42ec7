"""The member registry's OpenAPI document says what every route answers, and what the routes
really answer matches it (entrypoints/models.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

import services.members
from services.members.adapters.import_files import write_csv
from services.members.entrypoints.models import (
    CorrectionRequest, CorrectionRequests, ImportStarted, ImportStatus, MemberHistory, MemberPage, MemberRecord,
    MemberSummary, MyReview, MyReviews, OrgUnit, OrgUnitPage, ReviewCycle, ReviewCycles, ReviewDecision,
    ReviewSummary, StaffReview, StaffReviews,
)
from sotay.kit.clock import hanoi_day
from tests.support.system import eventually, make_settings, running_system

pytestmark = pytest.mark.integration

PREFIX = "/api/members/v1"
MEMBER = {"party_card_no": "01.765432", "full_name": "Lê Thị Hoa", "date_of_birth": "1970-02-03",
          "gender": "female", "citizen_id": "001070012345", "phone": "0912 111 222", "unit": "cg-g1-c1",
          "admitted_on": "1995-03-02", "official_on": "1996-03-02", "status": "active", "eligible": True}


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with running_system([services.members.definition()], make_settings(data_dir), nats_url,
                              database_url) as system:
        admin = system.auth("city_admin")
        for unit in [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"},
                     {"code": "cau-giay", "name": "Quận Cầu Giấy", "kind": "committee", "parent": "city"},
                     {"code": "cg-g1", "name": "Phường Dịch Vọng", "kind": "grassroots", "parent": "cau-giay"},
                     {"code": "cg-g1-c1", "name": "Chi bộ số 1", "kind": "cell", "parent": "cg-g1"},
                     {"code": "cg-g1-c2", "name": "Chi bộ số 2", "kind": "cell", "parent": "cg-g1"}]:
            response = await system.client.post(f"{PREFIX}/org-units", json=unit, headers=admin)
            assert response.status_code == 201, response.text
            OrgUnit.model_validate(response.json())
        yield system


async def test_every_operation_documents_a_success_response_with_a_schema(system):
    document = (await system.client.get(f"{PREFIX}/openapi.json")).json()
    operations = [(method, path, operation) for path, item in document["paths"].items()
                  for method, operation in item.items()]
    assert len(operations) >= 44  # 36, and the yearly review's 8 (handlers/reviews.py)
    for method, path, operation in operations:
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        assert successes, f"{method.upper()} {path} documents no success response"
        for code, response in successes.items():
            schema = next(iter(response.get("content", {}).values()), {}).get("schema")
            assert schema, f"{method.upper()} {path} {code} has no schema"
    upload = document["paths"][f"{PREFIX}/imports"]["post"]["responses"]
    assert {"200", "202"} <= set(upload)


async def test_real_answers_validate_against_their_models(system):
    admin = system.auth("city_admin")
    OrgUnitPage.model_validate((await system.client.get(f"{PREFIX}/org-units", params={"limit": 2})).json())

    created = await system.client.post(f"{PREFIX}/members", json=MEMBER, headers=admin)
    assert created.status_code == 201, created.text
    record = MemberRecord.model_validate(created.json())
    member_id = record.id
    MemberRecord.model_validate((await system.client.get(f"{PREFIX}/members/{member_id}", headers=admin)).json())
    secretary = system.auth("cell_secretary", "cg-g1-c1")
    masked = MemberRecord.model_validate(
        (await system.client.get(f"{PREFIX}/members/{member_id}", headers=secretary)).json())
    assert masked.citizen_id != MEMBER["citizen_id"]
    page = MemberPage.model_validate(
        (await system.client.post(f"{PREFIX}/members/search", json={"q": "le thi hoa"}, headers=admin)).json())
    assert [m.id for m in page.items] == [member_id]
    moved = await system.client.post(f"{PREFIX}/members/{member_id}/transfers", json={"to_unit": "cg-g1-c2"},
                                     headers=admin)
    assert MemberSummary.model_validate(moved.json()).unit == "cg-g1-c2"
    MemberHistory.model_validate((await system.client.get(f"{PREFIX}/members/{member_id}/history",
                                                          headers=admin)).json())

    me = system.auth("member", "cg-g1-c2", card=record.party_card_no)
    proposed = await system.client.post(f"{PREFIX}/members/{member_id}/corrections",
                                        json={"changes": {"full_name": "Lê Thị Hoà"}}, headers=me)
    assert proposed.status_code == 201, proposed.text
    request = CorrectionRequest.model_validate(proposed.json())
    listed = CorrectionRequests.model_validate((await system.client.get(f"{PREFIX}/corrections",
                                                                        headers=admin)).json())
    assert [c.id for c in listed.items] == [request.id] and listed.items[0].can_decide
    accepted = await system.client.post(f"{PREFIX}/corrections/{request.id}/accept", json={}, headers=admin)
    assert CorrectionRequest.model_validate(accepted.json()).status == "accepted"

    data = [{**MEMBER, "party_card_no": "01.765433", "citizen_id": "001070012346", "phone": "0912111223",
             "eligible": "true"}]
    started = await system.client.post(f"{PREFIX}/imports", files={"file": ("a.csv", write_csv(data), "text/csv")},
                                       headers=admin)
    assert started.status_code == 202, started.text
    ImportStarted.model_validate(started.json())

    async def done():
        status = (await system.client.get(started.headers["location"], headers=admin)).json()
        return status["status"] != "running" and status
    finished = ImportStatus.model_validate(await eventually(done))
    assert (finished.status, finished.imported) == ("done", 1)


async def test_the_yearly_review_answers_validate_against_their_models(system):
    c, admin, today = system.client, system.auth("city_admin"), hanoi_day()
    opened = await c.post(f"{PREFIX}/review-cycles", headers=admin, json={
        "year": today.year, "self_assessment_due": (today + timedelta(days=5)).isoformat(),
        "decision_due": (today + timedelta(days=9)).isoformat(), "excellent_cap_pct": 25})
    assert opened.status_code == 201, opened.text
    year = ReviewCycle.model_validate(opened.json()).year
    ReviewCycles.model_validate((await c.get(f"{PREFIX}/review-cycles", headers=admin)).json())
    created = await c.post(f"{PREFIX}/members", headers=admin, json={
        **MEMBER, "party_card_no": "01.765499", "citizen_id": "001070012399", "phone": "0912111299",
        "unit": "cg-g1-c1"})
    assert created.status_code == 201, created.text
    member_id, card = created.json()["id"], created.json()["party_card_no"]
    me = system.auth("member", "cg-g1-c1", card=card)
    written = await c.post(f"{PREFIX}/me/reviews", headers=me, json={
        "year": year, "self_assessment": "Tôi hoàn thành tốt nhiệm vụ.", "proposed_level": "good"})
    assert written.status_code == 200, written.text
    MyReview.model_validate(written.json())
    secretary = system.auth("cell_secretary", "cg-g1-c1")
    listed = StaffReviews.model_validate((await c.get(f"{PREFIX}/review-cycles/{year}/reviews",
                                                      params={"unit": "cg-g1-c1"}, headers=secretary)).json())
    assert member_id in [r.member_id for r in listed.items]
    proposed = await c.post(f"{PREFIX}/review-cycles/{year}/reviews/{member_id}/proposal", headers=secretary,
                            json={"level": "good", "comment": "Đồng chí nhiệt tình."})
    assert StaffReview.model_validate(proposed.json()).cell_level == "good"
    decided = await c.post(f"{PREFIX}/review-cycles/{year}/reviews/{member_id}/decision",
                           headers=system.auth("unit_admin", "cg-g1"), json={"level": "good"})
    assert ReviewDecision.model_validate(decided.json()).review.decided_level == "good"
    summary = ReviewSummary.model_validate((await c.get(f"{PREFIX}/review-cycles/{year}/summary",
                                                        params={"unit": "cau-giay"}, headers=admin)).json())
    assert summary.decided == 1 and summary.check.cap_pct == 25
    mine = MyReviews.model_validate((await c.get(f"{PREFIX}/me/reviews", headers=me)).json())
    assert [r.decided_level for r in mine.items] == ["good"]
