"""The demo's yearly review (issue 20) for `sotay up --demo`: last year's cycle, finished. Most
members wrote their self-assessment by the 5th of December; every cell proposed a level for each
of its members with a comment; each grassroots organisation decided by the 25th, most of them
within the 20% cap of excellent members, a few past it (their summary shows the warning). Rows
are written in bulk, with their events (ReviewSubmitted, ReviewDecided: ids only), as the service
writes them."""

from __future__ import annotations

import asyncio
import random
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text

from services.members.domain.reviews import DEFAULT_EXCELLENT_CAP_PCT, LEVELS, REVIEWED_STANDING
from sotay.contracts.members import ReviewDecided, ReviewSubmitted
from sotay.kit.clock import HANOI, hanoi_day
from sotay.kit.db import path_codes
from sotay.kit.events import make_message, uuid7
from sotay.kit.outbox import add_events
from sotay.kit.service import ServiceContext

CHUNK = 20_000
WROTE = 0.92  # members who wrote their self-assessment
OVER_CAP = 0.06  # grassroots organisations that rated more than the cap excellent
SECRETARY, UNIT = "demo-cell-secretary", "demo-unit-admin"
SELF_ASSESSMENTS = (
    "Trong năm, tôi chấp hành nghiêm chủ trương của Đảng, chính sách, pháp luật của Nhà nước; tham gia đầy đủ "
    "sinh hoạt chi bộ, đóng đảng phí đúng quy định. Khuyết điểm: đôi lúc chưa mạnh dạn phát biểu ý kiến.",
    "Tôi hoàn thành các nhiệm vụ được giao ở cơ quan và nơi cư trú, giữ gìn phẩm chất đạo đức, lối sống. "
    "Năm tới tôi sẽ dành nhiều thời gian hơn cho công tác của tổ dân phố.",
    "Tuổi cao, sức khoẻ hạn chế nhưng tôi vẫn cố gắng tham gia sinh hoạt chi bộ, đọc tin trên Sổ tay, "
    "vận động gia đình và bà con chấp hành tốt các quy định của địa phương.",
    "Tôi thường xuyên học tập, làm theo tư tưởng, đạo đức, phong cách Hồ Chí Minh; đã hoàn thành tốt công việc "
    "chuyên môn. Cần khắc phục: việc nghiên cứu nghị quyết còn chưa sâu.",
)
COMMENTS = {
    "excellent": "Đồng chí gương mẫu, hoàn thành xuất sắc nhiệm vụ được giao, được quần chúng tín nhiệm.",
    "good": "Đồng chí chấp hành tốt nghị quyết của chi bộ, tham gia sinh hoạt đầy đủ, hoàn thành tốt nhiệm vụ.",
    "done": "Đồng chí hoàn thành nhiệm vụ; cần tham gia sinh hoạt chi bộ đều đặn hơn.",
    "not_done": "Đồng chí nhiều lần vắng sinh hoạt không có lý do, chưa hoàn thành nhiệm vụ được giao.",
}


async def load_demo_reviews(ctx: ServiceContext, *, seed: int = 2023) -> dict[str, Any]:
    """Last year's review, finished, for every reviewed member of the registry (members' context)."""
    async with ctx.engine.connect() as db:
        if (await db.execute(text("SELECT EXISTS (SELECT 1 FROM review_cycles)"))).scalar_one():
            return {"loaded": False, "reason": "there are review cycles already"}
        members = (await db.execute(text(
            "SELECT m.id, m.unit_id, m.unit_path, u.code AS unit, u.committee FROM members m "
            "JOIN org_units u ON u.id = m.unit_id WHERE m.status = ANY(:standing) AND m.restricted_at IS NULL "
            "ORDER BY m.unit_path, m.id"), {"standing": list(REVIEWED_STANDING)})).all()
        units = {r.code: r.id for r in await db.execute(text("SELECT code, id FROM org_units"))}
    if not members:
        return {"loaded": False, "reason": "no member to review"}
    year = hanoi_day().year - 1
    self_due, decision_due = date(year, 12, 5), date(year, 12, 25)
    # Built in a thread: the services share this event loop, and keep answering meanwhile.
    rows, events = await asyncio.to_thread(_build, members, units, year, seed)
    async with ctx.engine.begin() as db:
        await db.execute(text(
            "INSERT INTO review_cycles (year, self_assessment_due, decision_due, excellent_cap_pct, opened_by, "
            "opened_at) VALUES (:y, :s, :d, :c, 'demo', :at)"),
            {"y": year, "s": self_due, "d": decision_due, "c": DEFAULT_EXCELLENT_CAP_PCT,
             "at": datetime(year, 11, 1, 8, tzinfo=HANOI)})
        for start in range(0, len(rows), CHUNK):  # in one transaction: all of it, or none
            await _insert(db, year, rows[start:start + CHUNK])
        for start in range(0, len(events), CHUNK):
            await add_events(db, "members", events[start:start + CHUNK])
    counts = {level: sum(r[9] == level for r in rows) for level in LEVELS}
    by_unit: dict[Any, list[int]] = {}
    for r in rows:
        tally = by_unit.setdefault(r[10], [0, 0])
        tally[0] += 1
        tally[1] += r[9] == "excellent"
    over = sum(1 for n, e in by_unit.values() if e * 100 > DEFAULT_EXCELLENT_CAP_PCT * n)
    return {"loaded": True, "year": year, "reviews": len(rows), "levels": counts, "units": len(by_unit),
            "over_cap": over}


def _build(members: list, units: dict[str, Any], year: int, seed: int) -> tuple[list[tuple], list]:
    """Each member's review row and its events: a level drawn around their deciding unit's share of
    excellent members, the cell's proposal mostly the same, the member's own mostly too."""
    rng = random.Random(seed)
    excellent_share: dict[str, float] = {}
    rows, events = [], []
    for m in members:
        codes = path_codes(m.unit_path)
        deciding = codes[-2] if len(codes) >= 3 else codes[-1]
        if deciding not in excellent_share:
            excellent_share[deciding] = rng.uniform(.24, .3) if rng.random() < OVER_CAP else rng.uniform(.08, .18)
        decided = _level(rng, excellent_share[deciding])
        wrote = rng.random() < WROTE
        proposed = (LEVELS[max(0, LEVELS.index(decided) - 1)] if rng.random() < .2 else decided) if wrote else None
        cell = decided if rng.random() < .95 else LEVELS[min(3, LEVELS.index(decided) + 1)]
        submitted_at = _at(rng, date(year, 11, 20), 15) if wrote else None
        cell_at, decided_at = _at(rng, date(year, 12, 6), 9), _at(rng, date(year, 12, 16), 9)
        review_id = uuid7()
        rows.append((review_id, m.id, m.unit_id, rng.choice(SELF_ASSESSMENTS) if wrote else None, proposed,
                     submitted_at, cell, COMMENTS[cell], cell_at, decided, units[deciding], decided_at,
                     3 if wrote else 2))
        if wrote:
            events.append(make_message(ReviewSubmitted(year=year, member_id=str(m.id), unit=m.unit),
                                       aggregate_id=str(review_id), committee=m.committee, orgunit=m.unit,
                                       sequence=1, at=submitted_at))
        events.append(make_message(ReviewDecided(year=year, member_id=str(m.id), unit=m.unit, level=decided),
                                   aggregate_id=str(review_id), committee=m.committee, orgunit=m.unit,
                                   sequence=3 if wrote else 2, at=decided_at))
    return rows, events


def _level(rng: random.Random, excellent: float) -> str:
    roll = rng.random()
    if roll < excellent:
        return "excellent"
    if roll < excellent + .68:
        return "good"
    return "done" if roll < .985 else "not_done"


def _at(rng: random.Random, first: date, days: int) -> datetime:
    day = first + timedelta(days=rng.randrange(days))
    return datetime(day.year, day.month, day.day, rng.randint(7, 21), rng.randint(0, 59), tzinfo=HANOI)


async def _insert(db, year: int, rows: list[tuple]) -> None:
    columns = list(zip(*rows, strict=True))
    await db.execute(text(
        "INSERT INTO reviews (id, year, member_id, unit_id, self_assessment, proposed_level, submitted_at, cell_level, "
        "cell_comment, cell_by, cell_at, decided_level, decided_unit_id, decided_by, decided_at, version, created_at, "
        "updated_at) SELECT r.id, :y, r.member, r.unit, r.words, r.proposed, r.submitted, r.cell, r.comment, :sec, "
        "r.cell_at, r.decided, r.deciding, :unit, r.decided_at, r.version, coalesce(r.submitted, r.cell_at), "
        "r.decided_at FROM unnest(CAST(:id AS uuid[]), CAST(:member AS uuid[]), CAST(:unit_id AS uuid[]), "
        "CAST(:words AS text[]), CAST(:proposed AS text[]), CAST(:submitted AS timestamptz[]), CAST(:cell AS text[]), "
        "CAST(:comment AS text[]), CAST(:cell_at AS timestamptz[]), CAST(:decided AS text[]), "
        "CAST(:deciding AS uuid[]), CAST(:decided_at AS timestamptz[]), CAST(:version AS integer[])) "
        "AS r (id, member, unit, words, proposed, submitted, cell, comment, cell_at, decided, deciding, decided_at, "
        "version)"),
        {"y": year, "sec": SECRETARY, "unit": UNIT, "id": list(columns[0]), "member": list(columns[1]),
         "unit_id": list(columns[2]), "words": list(columns[3]), "proposed": list(columns[4]),
         "submitted": list(columns[5]), "cell": list(columns[6]), "comment": list(columns[7]),
         "cell_at": list(columns[8]), "decided": list(columns[9]), "deciding": list(columns[10]),
         "decided_at": list(columns[11]), "version": list(columns[12])})
