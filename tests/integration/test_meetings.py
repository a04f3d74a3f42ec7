"""A cell's meetings that happened (issue 20), on real NATS and PostgreSQL: the secretary plans the
month's regular meeting, members answer (a reason when they cannot come), the secretary records
who came once it has started, with the minutes; events carry member ids only; members absent
without a reason from two meetings running are listed; the units above see which cells planned
next month, and on time; nobody else records or reads a cell's meetings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import text

import services.content
import services.members
from services.content.domain import meetings as calendar
from sotay.kit.clock import HANOI, hanoi_day
from tests.support.system import create_org_tree, eventually, import_registry, make_settings, registry_row, \
    running_system

pytestmark = pytest.mark.integration

API = "/api/content/v1"
CELL = "ba-dinh-g1-c1"
PEOPLE = {"an": ("0100000201", "Nguyễn Văn An"), "binh": ("0100000202", "Trần Thị Bình"),
          "cuong": ("0100000203", "Lê Văn Cường"), "dung": ("0100000204", "Phạm Thị Dung")}


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    async with running_system([services.members.definition(), services.content.definition()], settings, nats_url,
                              database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh", "tay-ho"], admin)
        await import_registry(system.client, [registry_row(card, name, CELL) for card, name in PEOPLE.values()], admin)

        async def replicated():
            async with system.runtimes["content"].context.engine.connect() as db:
                return (await db.execute(text("SELECT count(*) FROM readers WHERE full_name IS NOT NULL"))
                        ).scalar_one() == len(PEOPLE)
        await eventually(replicated, timeout=30)
        async with system.runtimes["content"].context.engine.connect() as db:
            system.ids = {who: str((await db.execute(text("SELECT member_id FROM readers WHERE party_card_no = :c"),
                                                     {"c": card})).scalar_one()) for who, (card, _) in PEOPLE.items()}
        yield system


def secretary(system, cell: str = CELL):
    return system.auth("cell_secretary", cell, subject=f"secretary-{cell}")


def member(system, who: str):
    return system.auth("member", CELL, subject=f"account-{who}", card=PEOPLE[who][0])


async def plan(system, starts_at: datetime, kind: str = "regular", cell: str = CELL) -> dict:
    answer = await system.client.post(f"{API}/meetings", headers=secretary(system, cell), json={
        "cell": cell, "starts_at": starts_at.isoformat(), "place": "Nhà văn hoá tổ dân phố", "kind": kind,
        "agenda": "Sinh hoạt thường kỳ: kiểm điểm công tác tháng"})
    assert answer.status_code == 201, answer.text
    return answer.json()


async def started(system, meeting_id: str, days_ago: int) -> None:
    """The meeting moved into the past (its secretary records it once it has started)."""
    async with system.runtimes["content"].context.engine.begin() as db:
        await db.execute(text("UPDATE meetings SET starts_at = now() - make_interval(days => :d) WHERE id = :m"),
                         {"d": days_ago, "m": meeting_id})


async def events(system, event: str) -> list[dict]:
    async with system.runtimes["content"].context.engine.connect() as db:
        bodies = (await db.execute(text("SELECT body FROM outbox WHERE subject LIKE :s ORDER BY position"),
                                   {"s": f"sotay.content.{event}.%"})).scalars()
        return [orjson.loads(b) for b in bodies]


async def test_a_meeting_is_planned_answered_and_recorded_with_who_came(system):
    ids = system.ids
    next_month = calendar.next_month(hanoi_day())
    meeting = await plan(system, datetime.combine(next_month.replace(day=10), datetime.min.time(), HANOI)
                         + timedelta(hours=19))
    assert meeting["kind"] == "regular" and meeting["held_at"] is None and meeting["present"] == 0
    wrong = await system.client.post(f"{API}/meetings", headers=secretary(system), json={
        "cell": CELL, "starts_at": "2031-01-10T19:00:00+07:00", "place": "x", "agenda": "x", "kind": "weekly"})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "kind"

    no = await system.client.post(f"{API}/meetings/{meeting['id']}/attendance", headers=member(system, "an"),
                                  json={"attending": False, "note": "Đi khám bệnh"})
    assert no.status_code == 200, no.text
    early = await system.client.post(f"{API}/meetings/{meeting['id']}/record", headers=secretary(system),
                                     json={"present": [ids["binh"]]})
    assert early.status_code == 409 and early.json()["code"] == "meeting_not_started"

    await started(system, meeting["id"], days_ago=0)
    stranger = str(uuid.uuid4())
    refused = await system.client.post(f"{API}/meetings/{meeting['id']}/record", headers=secretary(system),
                                       json={"present": [ids["binh"], stranger]})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "present", "reason": f"{stranger} is not a member of this cell"}]
    for outsider in (member(system, "binh"), secretary(system, "tay-ho-g1-c1")):
        denied = await system.client.post(f"{API}/meetings/{meeting['id']}/record", headers=outsider,
                                          json={"present": [ids["binh"]]})
        assert denied.status_code == 404, denied.text

    recorded = await system.client.post(f"{API}/meetings/{meeting['id']}/record", headers=secretary(system), json={
        "present": [ids["binh"], ids["cuong"]], "excused": {ids["dung"]: "Đi công tác"}})
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["present"] == 2 and recorded.json()["held_at"] is not None
    roll = (await system.client.get(f"{API}/meetings/{meeting['id']}/attendance", headers=secretary(system))).json()
    came = {m["full_name"]: (m["present"], m["reason"]) for m in roll["members"]}
    assert came == {"Nguyễn Văn An": (False, "Đi khám bệnh"), "Trần Thị Bình": (True, None),
                    "Lê Văn Cường": (True, None), "Phạm Thị Dung": (False, "Đi công tác")}
    assert roll["present"] == 2

    held, recorded_events = await events(system, "meeting_held"), await events(system, "attendance_recorded")
    assert [e["data"]["meeting_id"] for e in held] == [meeting["id"]]
    assert held[0]["data"] | {"held_at": None, "starts_at": None} == {
        "meeting_id": meeting["id"], "cell": CELL, "kind": "regular", "starts_at": None, "held_at": None,
        "members": 4, "present": 2, "minutes": False}
    attendance = recorded_events[-1]["data"]
    assert sorted(attendance["present"]) == sorted([ids["binh"], ids["cuong"]])
    assert sorted(attendance["excused"]) == sorted([ids["an"], ids["dung"]])  # An's own reason, Dung's by the secretary
    assert attendance["absent"] == []
    raw = orjson.dumps(recorded_events + held).decode()
    assert not any(name in raw for _, name in PEOPLE.values()), "member ids only"

    # Recorded again (a correction): the list replaces the one before; no second MeetingHeld.
    again = await system.client.post(f"{API}/meetings/{meeting['id']}/record", headers=secretary(system), json={
        "present": [ids["binh"], ids["cuong"], ids["dung"]]})
    assert again.json()["present"] == 3
    assert len(await events(system, "meeting_held")) == 1
    assert len(await events(system, "attendance_recorded")) == 2


async def test_members_absent_without_a_reason_twice_running_are_listed(system):
    ids = system.ids
    async with system.runtimes["content"].context.engine.begin() as db:  # the meetings before: months ago
        await db.execute(text("UPDATE meetings SET starts_at = starts_at - interval '90 days' WHERE cell = :c"),
                         {"c": CELL})
    for days_ago, present in ((40, [ids["an"], ids["binh"]]), (10, [ids["binh"], ids["cuong"]])):
        meeting = await plan(system, datetime.now(UTC) + timedelta(days=1))
        await started(system, meeting["id"], days_ago)
        done = await system.client.post(f"{API}/meetings/{meeting['id']}/record", headers=secretary(system),
                                        json={"present": present})
        assert done.status_code == 200, done.text
    # The two last regular meetings held are these two: Dung missed both without a reason; Cường
    # and An each missed one.
    listed = await system.client.get(f"{API}/cells/{CELL}/absences", headers=secretary(system))
    assert listed.status_code == 200, listed.text
    assert [(i["full_name"], len(i["dates"])) for i in listed.json()["items"]] == [("Phạm Thị Dung", 2)]
    assert (await system.client.get(f"{API}/cells/{CELL}/absences", headers=member(system, "an"))).status_code == 403
    assert (await system.client.get(f"{API}/cells/{CELL}/absences",
                                    headers=secretary(system, "tay-ho-g1-c1"))).status_code == 403


async def test_the_units_above_see_which_cells_planned_next_month_and_on_time(system):
    next_month = calendar.next_month(hanoi_day())
    await plan(system, datetime.combine(next_month.replace(day=12), datetime.min.time(), HANOI) + timedelta(hours=8))
    await plan(system, datetime.combine(next_month.replace(day=15), datetime.min.time(), HANOI), kind="thematic",
               cell="ba-dinh-g1-c2")  # a thematic meeting is not the month's regular one
    admin = system.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh")
    answer = await system.client.get(f"{API}/meetings/planning", headers=admin)
    assert answer.status_code == 200, answer.text
    planning = answer.json()
    assert planning["month"] == next_month.isoformat()[:7]
    assert datetime.fromisoformat(planning["deadline"]) == calendar.planning_deadline(next_month)
    by_cell = {c["cell"]: c for c in planning["cells"]}
    assert set(by_cell) == {"ba-dinh-g1-c1", "ba-dinh-g1-c2"}  # ba-dinh's cells only
    assert by_cell[CELL]["meeting_id"] is not None and by_cell["ba-dinh-g1-c2"]["meeting_id"] is None
    on_time = datetime.now(UTC) < calendar.planning_deadline(next_month)
    assert by_cell[CELL]["on_time"] is on_time
    assert (planning["planned"], planning["on_time"], planning["total"]) == (1, int(on_time), 2)
    assert (planning["held"], planning["attendance_pct"]) == (0, None)

    # This month's: cell 1's regular meeting held a minute ago with 3 of its 4 members present.
    meeting = await plan(system, datetime.now(UTC) + timedelta(days=1))
    async with system.runtimes["content"].context.engine.begin() as db:
        await db.execute(text("UPDATE meetings SET starts_at = now() - interval '1 minute' WHERE id = :m"),
                         {"m": meeting["id"]})
    ids = system.ids
    assert (await system.client.post(f"{API}/meetings/{meeting['id']}/record", headers=secretary(system),
                                     json={"present": [ids["an"], ids["binh"], ids["cuong"]]})).status_code == 200
    this_month = (await system.client.get(f"{API}/meetings/planning", headers=admin,
                                          params={"month": hanoi_day().isoformat()[:7]})).json()
    held = {c["cell"]: c for c in this_month["cells"] if c["held_at"]}
    assert list(held) == [CELL] and held[CELL]["meeting_id"] == meeting["id"]
    assert (this_month["held"], this_month["present"], this_month["recorded"]) == (1, 3, 4)
    assert this_month["attendance_pct"] == 75.0

    later = next_month.replace(year=next_month.year + 1)
    empty = (await system.client.get(f"{API}/meetings/planning", headers=admin,
                                     params={"month": later.isoformat()[:7]})).json()
    assert empty["planned"] == 0 and empty["total"] == 2
    for params, status in (({"month": "2027-13"}, 422), ({"unit": "tay-ho"}, 403), ({"unit": "nowhere"}, 422)):
        refused = await system.client.get(f"{API}/meetings/planning", headers=admin, params=params)
        assert refused.status_code == status, (params, refused.text)
    assert (await system.client.get(f"{API}/meetings/planning", headers=member(system, "an"))).status_code == 403
    city = (await system.client.get(f"{API}/meetings/planning", headers=system.auth("city_admin"))).json()
    assert city["total"] == 4 and city["planned"] == 1  # both committees' cells


async def test_a_member_on_a_temporary_transfer_attends_the_host_cell_until_the_end_date(system):
    """Issue 20: a temporary transfer has an end date; meanwhile the member is on the host cell's
    roll (not the home cell's), the home cell keeps the record; on the end date the job brings
    them home (a `return` transfer), or earlier by a decision."""
    from services.members.handlers import members as registry_members

    ids, admin = system.ids, system.auth("unit_admin", "ba-dinh")
    host = "ba-dinh-g1-c2"
    until = hanoi_day() + timedelta(days=30)
    refused = await system.client.post(f"/api/members/v1/members/{ids['cuong']}/transfers", headers=admin,
                                       json={"to_unit": host, "kind": "temporary"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "until"
    moved = await system.client.post(f"/api/members/v1/members/{ids['cuong']}/transfers", headers=admin, json={
        "to_unit": host, "kind": "temporary", "until": until.isoformat(), "reason": "Đi công tác dài ngày"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["unit"] == CELL and moved.json()["temporary_unit"] == host
    assert moved.json()["temporary_until"] == until.isoformat()

    async def on_roll(cell: str) -> set[str]:
        meeting = await plan(system, datetime.now(UTC) + timedelta(days=2), kind="thematic", cell=cell)
        roll = await system.client.get(f"{API}/meetings/{meeting['id']}/attendance", headers=secretary(system, cell))
        return {m["member_id"] for m in roll.json()["members"]}
    await eventually(lambda: _has(on_roll(host), ids["cuong"]), timeout=15)
    assert ids["cuong"] not in await on_roll(CELL)
    # The host cell's meetings reach the member's inbox meanwhile.
    hosted = await plan(system, datetime.now(UTC) + timedelta(days=4), kind="thematic", cell=host)

    async def told():
        inbox = (await system.client.get(f"{API}/notices", headers=member(system, "cuong"))).json()["items"]
        return [n for n in inbox if n["kind"] == "meeting" and n["ref"] == hosted["id"]]
    await eventually(told, timeout=15)

    # The end date: the job brings the member home.
    members_ctx = system.runtimes["members"].context
    assert await registry_members.return_due(members_ctx, today=until - timedelta(days=1)) == 0
    assert await registry_members.return_due(members_ctx, today=until) == 1
    record = (await system.client.get(f"/api/members/v1/members/{ids['cuong']}", headers=admin)).json()
    assert record["temporary_unit"] is None and record["temporary_until"] is None
    await eventually(lambda: _has(on_roll(CELL), ids["cuong"]), timeout=15)
    async with members_ctx.engine.connect() as db:
        body = (await db.execute(text(
            "SELECT body FROM outbox WHERE subject LIKE 'sotay.members.member_transferred.%' ORDER BY position DESC "
            "LIMIT 1"))).scalar_one()
    returned = orjson.loads(body)["data"]
    assert (returned["transfer_kind"], returned["from_unit"], returned["unit"]) == ("return", host, CELL)

    # Earlier, by a decision: a stay ended before its date.
    await system.client.post(f"/api/members/v1/members/{ids['an']}/transfers", headers=admin, json={
        "to_unit": host, "kind": "temporary", "until": until.isoformat()})
    no_reason = await system.client.post(f"/api/members/v1/members/{ids['an']}/return", headers=admin,
                                         json={"reason": " "})
    assert no_reason.status_code == 422
    back = await system.client.post(f"/api/members/v1/members/{ids['an']}/return", headers=admin,
                                    json={"reason": "Kết thúc công tác sớm"})
    assert back.status_code == 200 and back.json()["temporary_unit"] is None
    again = await system.client.post(f"/api/members/v1/members/{ids['an']}/return", headers=admin,
                                     json={"reason": "Lần nữa"})
    assert again.status_code == 409 and again.json()["code"] == "not_away"


async def _has(found, member_id: str) -> bool:
    return member_id in await found


async def test_a_secretary_adds_the_cells_own_minutes_to_the_library_and_nothing_else(system):
    """The minutes of a cell's meeting are the cell's own papers: its secretary adds them, for the
    cell alone; a document for the unit above, or for another cell, stays an editor's to add."""
    def upload(unit: str, audience: list[str], who: str = CELL):
        return system.client.post(f"{API}/documents", headers=secretary(system, who), files={
            "file": ("bien-ban.pdf", b"%PDF-1.4\n% bien ban\n", "application/pdf")},
            data={"title": "Biên bản sinh hoạt chi bộ", "kind": "other", "unit": unit,
                  **({"audience": audience} if audience else {})})
    added = await upload(CELL, [CELL])
    assert added.status_code == 201, added.text
    for unit, audience, who in ((CELL, ["ba-dinh"], CELL), ("ba-dinh-g1-c2", ["ba-dinh-g1-c2"], CELL),
                                ("ba-dinh-g1", ["ba-dinh-g1"], CELL)):
        refused = await upload(unit, audience, who)
        assert refused.status_code in (403, 422), (unit, audience, refused.text)
