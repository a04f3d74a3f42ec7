"""The demo's cell meetings (issue 20) for `sotay up --demo`: in the first cells of the tree, the
regular meeting of each of the last three months, held, with who came (most members; some absent
with a reason, a few without), a thematic meeting in some cells, and next month's regular meeting
planned in most cells by the 20th, so the meetings page and the dashboard have something to show.
Rows and their events are written together, as the service writes them (events by member id)."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from services.content.domain import meetings as calendar
from sotay.contracts.content import AttendanceRecorded, MeetingHeld, MeetingScheduled
from sotay.kit.clock import HANOI, hanoi_day
from sotay.kit.events import make_message, uuid7
from sotay.kit.outbox import add_events
from sotay.kit.service import ServiceContext

SECRETARY = "demo-cell-secretary"
PRESENT = 0.88  # a member comes to the month's meeting
EXCUSED = 0.6  # an absent member gave a reason
REASONS = ("Ốm, nằm viện", "Đi công tác", "Việc gia đình", "Tuổi cao, sức yếu")
PLANNED_NEXT = 0.85  # cells with next month's meeting planned
THEMATIC = 0.3  # cells that held a thematic meeting too
PLACES = ("Nhà văn hoá tổ dân phố", "Hội trường phường", "Phòng họp chi bộ")


async def load_demo_meetings(ctx: ServiceContext, *, cells: int = 300, seed: int = 2023,
                             wait_s: float = 300.0) -> dict[str, Any]:
    async with ctx.engine.connect() as db:
        if (await db.execute(text("SELECT EXISTS (SELECT 1 FROM meetings)"))).scalar_one():
            return {"loaded": False, "reason": "there are meetings already"}
    roll = await _cells_with_members(ctx, cells, wait_s)
    if not roll:
        return {"loaded": False, "reason": "no cell's members reached content"}
    rng, today = random.Random(seed), hanoi_day()
    this_month = calendar.first_of(today)
    months = [calendar.first_of(this_month - timedelta(days=28 * k + 1)) for k in (3, 2, 1)]
    meetings: list[dict[str, Any]] = []
    presence: list[tuple[Any, str, bool, str | None]] = []
    events = []
    for cell, (path, committee, members) in roll.items():
        for month in months:
            thematic = rng.random() < THEMATIC and month == months[-1]
            for kind in ("regular", "thematic") if thematic else ("regular",):
                day = rng.randint(5, 12) + (10 if kind == "thematic" else 0)
                starts = datetime.combine(month.replace(day=day), datetime.min.time(), HANOI) + timedelta(hours=19)
                planned = min(calendar.planning_deadline(month) - timedelta(days=rng.randint(1, 6)), starts)
                meeting = _meeting(cell, path, kind, starts, planned, rng)
                came = [(m, rng.random() < PRESENT) for m in members]
                rows = [(meeting["id"], m, here, None if here or rng.random() > EXCUSED else rng.choice(REASONS))
                        for m, here in came]
                meeting["held_at"] = starts + timedelta(hours=2)
                meetings.append(meeting)
                presence += rows
                events += _events(meeting, committee, rows)
        if rng.random() < PLANNED_NEXT:
            month = calendar.next_month(today)
            starts = datetime.combine(month.replace(day=rng.randint(5, 12)), datetime.min.time(), HANOI) \
                + timedelta(hours=19)
            meeting = _meeting(cell, path, "regular", starts, min(datetime.now(UTC), calendar.planning_deadline(month)
                                                                  - timedelta(hours=1)), rng)
            meetings.append(meeting)
            events += _events(meeting, committee, [])
    async with ctx.engine.begin() as db:
        await db.execute(text(
            "INSERT INTO meetings (id, cell, cell_path, starts_at, place, agenda, called_by, kind, created_at, held_at, "
            "recorded_by) VALUES (:id, :cell, :path, :starts_at, :place, :agenda, :by, :kind, :planned_at, :held_at, "
            ":recorded_by)"), meetings)
        await db.execute(text(
            "INSERT INTO meeting_presence (meeting_id, member_id, present, reason) VALUES (:m, :member, :p, :r)"),
            [{"m": m, "member": member, "p": p, "r": r} for m, member, p, r in presence])
        await add_events(db, "content", events)
    held = sum(m["held_at"] is not None for m in meetings)
    return {"loaded": True, "cells": len(roll), "held": held, "planned_next": len(meetings) - held}


def _meeting(cell: str, path: str, kind: str, starts: datetime, planned_at: datetime, rng: random.Random) -> dict:
    agenda = ("Sinh hoạt thường kỳ: đánh giá công tác tháng, phương hướng tháng tới" if kind == "regular"
              else "Sinh hoạt chuyên đề: học tập và làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh")
    return {"id": uuid7(), "cell": cell, "path": path, "starts_at": starts, "place": rng.choice(PLACES),
            "agenda": agenda, "by": SECRETARY, "kind": kind, "planned_at": planned_at, "held_at": None,
            "recorded_by": SECRETARY}


def _events(meeting: dict, committee: str, rows: list[tuple]) -> list:
    at, cell, mid = meeting["planned_at"], meeting["cell"], str(meeting["id"])
    out = [make_message(MeetingScheduled(meeting_id=mid, cell=cell, starts_at=meeting["starts_at"],
                                         place=meeting["place"], documents=[], kind=meeting["kind"]),
                        aggregate_id=mid, committee=committee, orgunit=cell, at=at)]
    if meeting["held_at"] is None:
        return out
    present = [str(m) for _, m, here, _ in rows if here]
    out.append(make_message(MeetingHeld(meeting_id=mid, cell=cell, kind=meeting["kind"], starts_at=meeting["starts_at"],
                                        held_at=meeting["held_at"], members=len(rows), present=len(present),
                                        minutes=False),
                            aggregate_id=mid, committee=committee, orgunit=cell, at=meeting["held_at"]))
    out.append(make_message(AttendanceRecorded(
        meeting_id=mid, cell=cell, present=present, excused=[str(m) for _, m, here, why in rows if not here and why],
        absent=[str(m) for _, m, here, why in rows if not here and not why]),
        aggregate_id=mid, committee=committee, orgunit=cell, at=meeting["held_at"]))
    return out


async def _cells_with_members(ctx: ServiceContext, cells: int, wait_s: float) -> dict[str, tuple[str, str, list]]:
    """Up to `cells` cells, in the tree's order, with their members (content's replica), once the
    replica has stopped growing."""
    deadline, last = time.monotonic() + wait_s, -1
    while time.monotonic() < deadline:
        async with ctx.engine.connect() as db:
            held = (await db.execute(text("SELECT count(*) FROM readers"))).scalar_one()
        if held and held == last:
            break
        last = held
        await asyncio.sleep(2)
    async with ctx.engine.connect() as db:
        rows = (await db.execute(text(
            "SELECT u.code, u.path, u.committee, array_agg(r.member_id ORDER BY r.member_id) AS members "
            "FROM org_units u JOIN readers r ON r.unit = u.code AND r.status IN ('active', 'probationary', 'exempt') "
            "WHERE u.kind = 'cell' AND NOT u.closed GROUP BY u.code, u.path, u.committee ORDER BY u.path LIMIT :n"),
            {"n": cells})).all()
    return {r.code: (r.path, r.committee, list(r.members)) for r in rows}
