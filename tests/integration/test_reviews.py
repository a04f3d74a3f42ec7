"""The yearly review and ranking of members (issue 20), on real NATS and PostgreSQL: the city opens
a year's cycle; a member writes their self-assessment and proposes a level; the cell's secretary
proposes a level with a comment; a unit administrator decides, warned (not refused) when the unit's
share of excellent members passes the cap; the member sees the result and the years before; the
units see the counts and the cells not done; the deadlines hold; bad input changes nothing; the
events carry ids only, none while a member's data is restricted; staff reads are audited; another
committee's staff, and anyone on their own review, are refused."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from sqlalchemy import text

import services.members
from services.members.adapters import registry
from sotay.kit.clock import hanoi_day
from tests.support.system import create_org_tree, import_registry, make_settings, registry_row, running_system

pytestmark = pytest.mark.integration

API = "/api/members/v1"
CELL, CELL2 = "ba-dinh-g1-c1", "ba-dinh-g1-c2"
PEOPLE = {"an": ("0100000301", "Nguyễn Văn An", CELL), "binh": ("0100000302", "Trần Thị Bình", CELL),
          "cuong": ("0100000303", "Lê Văn Cường", CELL), "dung": ("0100000304", "Phạm Thị Dung", CELL),
          "giang": ("0100000305", "Hoàng Văn Giang", CELL2), "hoa": ("0100000306", "Đỗ Thị Hoa", "tay-ho-g1-c1")}
EXEMPT = ("0100000307", "Vũ Văn Khải", CELL)
AN_WORDS = "Tôi luôn gương mẫu, hoàn thành tốt công việc ở tổ dân phố."
COMMENT = "Đồng chí gương mẫu, nhiệt tình với công việc của chi bộ."


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with running_system([services.members.definition()], make_settings(data_dir), nats_url,
                              database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh", "tay-ho"], admin)
        rows = [registry_row(card, name, unit) for card, name, unit in PEOPLE.values()]
        rows.append(registry_row(*EXEMPT, status="exempt", eligible=False, reason="Tuổi cao"))
        await import_registry(system.client, rows, admin)
        async with system.runtimes["members"].context.engine.connect() as db:
            system.ids = {who: str(await registry.member_id_by_card(db, card)) for who, (card, *_) in PEOPLE.items()}
        system.year = hanoi_day().year
        yield system


def member(system, who: str):
    card, _, unit = PEOPLE[who]
    return system.auth("member", unit, card=card, subject=f"account-{who}")


def secretary(system, cell: str = CELL, **kw):
    return system.auth("cell_secretary", cell, subject=f"secretary-{cell}", **kw)


def unit_admin(system, unit: str = "ba-dinh-g1"):
    return system.auth("unit_admin", unit, subject=f"admin-{unit}")


async def sql(system, statement: str, **params):
    async with system.runtimes["members"].context.engine.begin() as db:
        result = await db.execute(text(statement), params)
        return result.all() if result.returns_rows else []


async def events(system, event: str) -> list[dict]:
    rows = await sql(system, "SELECT body FROM outbox WHERE subject LIKE :s ORDER BY position",
                     s=f"sotay.members.{event}.%")
    return [orjson.loads(r.body) for r in rows]


async def reviews_rows(system) -> int:
    return (await sql(system, "SELECT count(*) FROM reviews"))[0][0]


async def test_the_city_opens_a_cycle_and_bad_input_changes_nothing(system):
    c, year, today = system.client, system.year, hanoi_day()
    body = {"year": year, "self_assessment_due": (today + timedelta(days=10)).isoformat(),
            "decision_due": (today + timedelta(days=30)).isoformat()}
    for headers in (unit_admin(system, "ba-dinh"), member(system, "an"), system.auth("city_admin", "ba-dinh")):
        refused = await c.post(f"{API}/review-cycles", json=body, headers=headers)
        assert refused.status_code == 403, refused.text
    for wrong, field in (({"decision_due": (today + timedelta(days=5)).isoformat()}, "decision_due"),
                         ({"self_assessment_due": (today - timedelta(days=1)).isoformat()}, "self_assessment_due"),
                         ({"self_assessment_due": "0001-01-01"}, "self_assessment_due"),
                         ({"excellent_cap_pct": 0}, "excellent_cap_pct"), ({"year": 1999}, "year")):
        answer = await c.post(f"{API}/review-cycles", json=body | wrong, headers=system.auth("city_admin"))
        assert answer.status_code == 422, (wrong, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text
    assert (await c.get(f"{API}/review-cycles", headers=member(system, "an"))).json()["items"] == []

    opened = await c.post(f"{API}/review-cycles", json=body, headers=system.auth("city_admin"))
    assert opened.status_code == 201, opened.text
    assert opened.json() | {"opened_at": None} == {**body, "excellent_cap_pct": 20, "stage": "self_assessment",
                                                   "opened_at": None}
    again = await c.post(f"{API}/review-cycles", json=body, headers=system.auth("city_admin"))
    assert again.status_code == 409 and again.json()["code"] == "cycle_exists"
    listed = (await c.get(f"{API}/review-cycles", headers=member(system, "an"))).json()["items"]
    assert [(i["year"], i["stage"]) for i in listed] == [(year, "self_assessment")]
    assert (await c.get(f"{API}/review-cycles")).status_code == 401


async def test_a_member_writes_the_cell_proposes_the_unit_decides_warned_past_the_cap(system):
    c, year, ids = system.client, system.year, system.ids
    before = await reviews_rows(system)
    for body, field in (({"self_assessment": "   ", "proposed_level": "good"}, "self_assessment"),
                        ({"self_assessment": "x", "proposed_level": "very_good"}, "proposed_level"),
                        ({"self_assessment": "x"}, "proposed_level")):
        bad = await c.post(f"{API}/me/reviews", json={"year": year, **body}, headers=member(system, "an"))
        assert bad.status_code == 422 and [e["field"] for e in bad.json()["errors"]] == [field], bad.text
    unknown = await c.post(f"{API}/me/reviews", json={"year": year + 3, "self_assessment": "x",
                                                      "proposed_level": "good"}, headers=member(system, "an"))
    assert unknown.status_code == 404 and unknown.json()["code"] == "no_cycle"
    exempt = await c.post(f"{API}/me/reviews", json={"year": year, "self_assessment": "x", "proposed_level": "good"},
                          headers=system.auth("member", CELL, card=EXEMPT[0]))
    assert exempt.status_code == 409 and exempt.json()["code"] == "not_reviewed"
    staff = await c.post(f"{API}/me/reviews", json={"year": year, "self_assessment": "x", "proposed_level": "good"},
                         headers=unit_admin(system))
    assert staff.status_code == 403
    assert await reviews_rows(system) == before and await events(system, "review_submitted") == []

    written = await c.post(f"{API}/me/reviews", headers=member(system, "an") | {"Idempotency-Key": "an-1"},
                           json={"year": year, "self_assessment": "Bản nháp", "proposed_level": "good"})
    assert written.status_code == 200, written.text
    rewritten = await c.post(f"{API}/me/reviews", headers=member(system, "an"),
                             json={"year": year, "self_assessment": AN_WORDS, "proposed_level": "excellent"})
    mine = rewritten.json()
    assert (mine["self_assessment"], mine["proposed_level"], mine["unit_name"], mine["stage"]) == (
        AN_WORDS, "excellent", "Chi bộ 1", "self_assessment")
    assert mine["decided_level"] is None and "cell_by" not in mine
    submitted = await events(system, "review_submitted")
    assert [e["data"] for e in submitted] == [{"year": year, "member_id": ids["an"], "unit": CELL}] * 2
    assert submitted[0]["subject"] == submitted[1]["subject"] and submitted[1]["sequence"] > submitted[0]["sequence"]

    # The cell: its secretary lists the cell's members (audited), waits for Bình's own words.
    listed = await c.get(f"{API}/review-cycles/{year}/reviews", params={"unit": CELL}, headers=secretary(system))
    assert listed.status_code == 200, listed.text
    items = {i["full_name"]: i for i in listed.json()["items"]}
    assert set(items) == {"Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung"}  # not the exempt one
    assert items["Nguyễn Văn An"]["self_assessment"] == AN_WORDS and items["Nguyễn Văn An"]["can_propose"]
    assert not items["Trần Thị Bình"]["can_propose"] and items["Trần Thị Bình"]["id"] is None
    assert "party_card_no" not in items["Nguyễn Văn An"]
    first = (await c.get(f"{API}/review-cycles/{year}/reviews", params={"unit": CELL, "limit": 3},
                         headers=secretary(system))).json()
    rest = (await c.get(f"{API}/review-cycles/{year}/reviews", params={"unit": CELL, "limit": 3,
                                                                       "cursor": first["next_cursor"]},
                        headers=secretary(system))).json()
    assert [i["full_name"] for i in first["items"] + rest["items"]] == [i["full_name"] for i in
                                                                        listed.json()["items"]]
    assert rest["next_cursor"] is None
    bad = await c.get(f"{API}/review-cycles/{year}/reviews", params={"unit": CELL, "cursor": "nope"},
                      headers=secretary(system))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    audited = await sql(system, "SELECT what, purpose, actor_role FROM record_reads WHERE CAST(:m AS uuid) = "
                                "ANY(member_ids) AND what = 'reviews'", m=ids["an"])
    assert {tuple(a) for a in audited} == {("reviews", "yearly_review", "cell_secretary")}
    waiting = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['binh']}/proposal", headers=secretary(system),
                           json={"level": "good", "comment": COMMENT})
    assert waiting.status_code == 409 and waiting.json()["code"] == "awaiting_self_assessment"
    blank = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['an']}/proposal", headers=secretary(system),
                         json={"level": "excellent", "comment": "  "})
    assert blank.status_code == 422 and blank.json()["errors"][0]["field"] == "comment"
    early = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['an']}/decision", headers=unit_admin(system),
                         json={"level": "excellent"})
    assert early.status_code == 409 and early.json()["code"] == "awaiting_cell"
    for outsider in (secretary(system, "tay-ho-g1-c1"), secretary(system, CELL2), unit_admin(system),
                     member(system, "binh")):
        denied = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['an']}/proposal", headers=outsider,
                              json={"level": "excellent", "comment": COMMENT})
        assert denied.status_code == 403, denied.text
    own = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['an']}/proposal",
                       headers=secretary(system, card=PEOPLE["an"][0]), json={"level": "excellent", "comment": "x"})
    assert own.status_code == 403, "nobody proposes their own level"
    proposed = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['an']}/proposal", headers=secretary(system),
                            json={"level": "excellent", "comment": COMMENT})
    assert proposed.status_code == 200, proposed.text
    assert (proposed.json()["cell_level"], proposed.json()["cell_comment"]) == ("excellent", COMMENT)
    assert proposed.json()["can_propose"] and not proposed.json()["can_decide"]

    # The unit (the grassroots organisation): An excellent is 1 of its 5 reviewed members, the cap's 20%.
    decided = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['an']}/decision", headers=unit_admin(system),
                           json={"level": "excellent"})
    assert decided.status_code == 200, decided.text
    assert decided.json()["review"]["decided_level"] == "excellent"
    assert decided.json()["review"]["decided_unit_name"] == "Đảng bộ phường"
    assert decided.json()["check"] | {"unit_name": None} == {
        "unit": "ba-dinh-g1", "unit_name": None, "members": 5, "excellent": 1, "share_pct": 20.0, "cap_pct": 20,
        "allowed": 1, "exceeded": False}
    assert [e["data"] for e in await events(system, "review_decided")] == [
        {"year": year, "member_id": ids["an"], "unit": CELL, "level": "excellent"}]
    for outsider in (unit_admin(system, "tay-ho"), secretary(system), system.auth("city_admin")):
        denied = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['an']}/decision", headers=outsider,
                              json={"level": "good"})
        assert denied.status_code == 403, denied.text
    late = await c.post(f"{API}/me/reviews", headers=member(system, "an"),
                        json={"year": year, "self_assessment": "Sửa lại", "proposed_level": "good"})
    assert late.status_code == 409 and late.json()["code"] == "review_decided"

    # The self-assessment deadline passes: Bình wrote nothing; the cell proposes for her all the same,
    # and the unit rates her excellent too: 2 of 5 is past the cap, a warning and not a refusal.
    await sql(system, "UPDATE review_cycles SET self_assessment_due = :d WHERE year = :y",
              d=hanoi_day() - timedelta(days=1), y=year)
    closed = await c.post(f"{API}/me/reviews", headers=member(system, "cuong"),
                          json={"year": year, "self_assessment": "Muộn", "proposed_level": "good"})
    assert closed.status_code == 409 and closed.json()["code"] == "self_assessment_closed"
    assert (await c.post(f"{API}/review-cycles/{year}/reviews/{ids['binh']}/proposal", headers=secretary(system),
                         json={"level": "excellent", "comment": COMMENT})).status_code == 200
    warned = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['binh']}/decision", headers=unit_admin(system),
                          json={"level": "excellent"})
    assert warned.status_code == 200, warned.text
    check = warned.json()["check"]
    assert (check["excellent"], check["share_pct"], check["allowed"], check["exceeded"]) == (2, 40.0, 1, True)
    # Changed before the decision deadline: the unit takes the warning and rates her good.
    changed = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['binh']}/decision", headers=unit_admin(system),
                           json={"level": "good"})
    assert changed.json()["check"]["exceeded"] is False
    assert [e["data"]["level"] for e in await events(system, "review_decided")] == ["excellent", "excellent", "good"]

    # The units' counts: the grassroots organisation, the committee above, the city; no names.
    summary = await c.get(f"{API}/review-cycles/{year}/summary", params={"unit": "ba-dinh-g1"},
                          headers=unit_admin(system))
    assert summary.status_code == 200, summary.text
    s = summary.json()
    assert (s["members"], s["self_assessed"], s["proposed"], s["decided"]) == (5, 1, 2, 2)
    assert s["levels"] == {"excellent": 1, "good": 1, "done": 0, "not_done": 0}
    assert (s["cells"], s["cells_not_done"], s["overdue"]) == (2, 2, False)
    assert [(w["unit_name"], w["members"], w["proposed"]) for w in s["waiting"]] == [("Chi bộ 1", 4, 2),
                                                                                     ("Chi bộ 2", 1, 0)]
    assert s["cycle"]["stage"] == "deciding" and "Nguyễn Văn An" not in summary.text
    city = await c.get(f"{API}/review-cycles/{year}/summary", params={"unit": "city"},
                       headers=system.auth("city_admin"))
    assert city.json()["members"] == 6 and city.json()["decided"] == 2
    assert (await c.get(f"{API}/review-cycles/{year}/reviews", params={"unit": "ba-dinh"},
                        headers=system.auth("city_admin"))).status_code == 403  # the city reads counts only
    for params, headers, status in (({"unit": "ba-dinh-g1"}, unit_admin(system, "tay-ho"), 403),
                                    ({"unit": "nowhere"}, unit_admin(system), 404),
                                    ({"unit": "ba-dinh-g1"}, member(system, "an"), 403)):
        assert (await c.get(f"{API}/review-cycles/{year}/summary", params=params,
                            headers=headers)).status_code == status, params

    # The decision deadline passes: a decided level stands; one not decided yet is decided late.
    await sql(system, "UPDATE review_cycles SET decision_due = :d WHERE year = :y", d=hanoi_day() - timedelta(days=1),
              y=year)
    stands = await c.post(f"{API}/review-cycles/{year}/reviews/{ids['an']}/decision", headers=unit_admin(system),
                          json={"level": "good"})
    assert stands.status_code == 409 and stands.json()["code"] == "review_decided"
    assert (await c.post(f"{API}/review-cycles/{year}/reviews/{ids['cuong']}/proposal", headers=secretary(system),
                         json={"level": "done", "comment": COMMENT})).status_code == 200
    assert (await c.post(f"{API}/review-cycles/{year}/reviews/{ids['cuong']}/decision",
                         headers=unit_admin(system, "ba-dinh"), json={"level": "done"})).status_code == 200
    late_summary = (await c.get(f"{API}/review-cycles/{year}/summary", params={"unit": CELL},
                                headers=secretary(system))).json()
    assert late_summary["overdue"] is True and late_summary["waiting"][0]["overdue"] is True

    # The member sees their result, the cell's comment, and no account that acted.
    mine = (await c.get(f"{API}/me/reviews", headers=member(system, "an"))).json()["items"]
    assert [(r["year"], r["decided_level"], r["cell_comment"], r["decided_unit_name"]) for r in mine] == [
        (year, "excellent", COMMENT, "Đảng bộ phường")]
    assert not {"cell_by", "decided_by"} & set(mine[0])
    data = (await c.get(f"{API}/me/data", headers=member(system, "an"))).json()["parts"]
    assert [r["self_assessment"] for r in data["reviews"]] == [AN_WORDS]

    # No event carries anyone's words, nor a name.
    raw = orjson.dumps(await events(system, "review_submitted") + await events(system, "review_decided")).decode()
    assert not any(words in raw for words in (AN_WORDS, COMMENT, "Bản nháp", "Nguyễn Văn An"))


async def test_the_years_before_and_a_restricted_member(system):
    c, year, ids = system.client, system.year, system.ids
    # Last year's cycle, long closed, and Dung's level then.
    await sql(system, "INSERT INTO review_cycles (year, self_assessment_due, decision_due, opened_by) "
                      "VALUES (:y, :s, :d, 'city')", y=year - 1, s=hanoi_day().replace(year=year - 1, month=12, day=1),
              d=hanoi_day().replace(year=year - 1, month=12, day=20))
    unit_id = (await sql(system, "SELECT id FROM org_units WHERE code = :c", c=CELL))[0][0]
    await sql(system, "INSERT INTO reviews (id, year, member_id, unit_id, cell_level, cell_comment, cell_by, cell_at, "
                      "decided_level, decided_unit_id, decided_by, decided_at) VALUES (gen_random_uuid(), :y, :m, :u, "
                      "'good', 'Tốt', 'x', now(), 'good', :u, 'x', now())", y=year - 1, m=ids["dung"], u=unit_id)
    # Dung's data restricted at her request: her review goes on, and no event tells of it.
    restricted = await c.put(f"{API}/members/{ids['dung']}/restriction", headers=unit_admin(system),
                             json={"restricted": True, "reason": "Đồng chí yêu cầu"})
    assert restricted.status_code == 200, restricted.text
    await sql(system, "UPDATE review_cycles SET self_assessment_due = :d, decision_due = :e WHERE year = :y",
              d=hanoi_day() + timedelta(days=3), e=hanoi_day() + timedelta(days=9), y=year)
    wrote = await c.post(f"{API}/me/reviews", headers=member(system, "dung"),
                         json={"year": year, "self_assessment": "Tôi cố gắng", "proposed_level": "good"})
    assert wrote.status_code == 200, wrote.text
    assert ids["dung"] not in orjson.dumps(await events(system, "review_submitted")).decode()
    mine = (await c.get(f"{API}/me/reviews", headers=member(system, "dung"))).json()["items"]
    assert [(r["year"], r["decided_level"], r["stage"]) for r in mine] == [(year, None, "self_assessment"),
                                                                           (year - 1, "good", "closed")]

    # The city extends a deadline; one already past, or out of order, is refused and nothing changes.
    extended = await c.patch(f"{API}/review-cycles/{year}", headers=system.auth("city_admin"),
                             json={"decision_due": (hanoi_day() + timedelta(days=20)).isoformat()})
    assert extended.status_code == 200 and extended.json()["decision_due"] == (
        hanoi_day() + timedelta(days=20)).isoformat()
    for body, field in (({"decision_due": (hanoi_day() - timedelta(days=1)).isoformat()}, "decision_due"),
                        ({"self_assessment_due": (hanoi_day() + timedelta(days=25)).isoformat()}, "decision_due")):
        refused = await c.patch(f"{API}/review-cycles/{year}", headers=system.auth("city_admin"), json=body)
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == field, refused.text
    assert (await c.patch(f"{API}/review-cycles/{year}", headers=unit_admin(system, "ba-dinh"),
                          json={"excellent_cap_pct": 50})).status_code == 403
    assert (await c.patch(f"{API}/review-cycles/{year + 5}", headers=system.auth("city_admin"),
                          json={"excellent_cap_pct": 50})).status_code == 404
    cycle = [i for i in (await c.get(f"{API}/review-cycles", headers=member(system, "an"))).json()["items"]
             if i["year"] == year][0]
    assert (cycle["excellent_cap_pct"], cycle["decision_due"]) == (20, (hanoi_day() + timedelta(days=20)).isoformat())
