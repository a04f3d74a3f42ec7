"""SQL for the yearly review and ranking (009_reviews.sql): the cycles the city opens, each
member's review of a year (their self-assessment, the cell's proposal, the unit's decision), the
members of a unit with their reviews, and the counts a unit's summary is made of."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.domain.reviews import LEVELS, REVIEWED_STANDING
from sotay.kit.db import Where

CYCLE_COLUMNS = "year, self_assessment_due, decision_due, excellent_cap_pct, opened_by, opened_at, updated_at"
REVIEW_COLUMNS = ("r.id, r.year, r.member_id, r.self_assessment, r.proposed_level, r.submitted_at, r.cell_level, "
                  "r.cell_comment, r.cell_by, r.cell_at, r.decided_level, r.decided_by, r.decided_at, r.version, "
                  "u.code AS unit, u.name AS unit_name, du.code AS decided_unit, du.name AS decided_unit_name")
REVIEW_FROM = ("reviews r JOIN org_units u ON u.id = r.unit_id "
               "LEFT JOIN org_units du ON du.id = r.decided_unit_id")
# Members as a review needs them: whose, where now, in what standing (no identifiers opened).
MEMBER_COLUMNS = ("m.id, m.party_card_no, m.full_name, m.status, m.restricted_at, m.unit_id, m.unit_path, "
                  "u.code AS unit, u.name AS unit_name, u.committee")
REVIEWED = "m.status IN ('" + "', '".join(REVIEWED_STANDING) + "')"
LEVEL_COUNTS = ", ".join(f"count(*) FILTER (WHERE r.decided_level = '{level}') AS {level}" for level in LEVELS)


# --- cycles -------------------------------------------------------------------------------------

async def cycle(db: AsyncConnection, year: int, *, lock: bool = False) -> dict[str, Any] | None:
    row = (await db.execute(text(f"SELECT {CYCLE_COLUMNS} FROM review_cycles WHERE year = :y"
                                 + (" FOR UPDATE" if lock else "")), {"y": year})).mappings().first()
    return dict(row) if row else None


async def cycles(db: AsyncConnection) -> list[dict[str, Any]]:
    rows = await db.execute(text(f"SELECT {CYCLE_COLUMNS} FROM review_cycles ORDER BY year DESC"))
    return [dict(r) for r in rows.mappings()]


async def insert_cycle(db: AsyncConnection, cycle: dict[str, Any]) -> bool:
    """Whether the cycle was opened (False: that year has one already)."""
    return (await db.execute(text(
        "INSERT INTO review_cycles (year, self_assessment_due, decision_due, excellent_cap_pct, opened_by) "
        "VALUES (:year, :self_assessment_due, :decision_due, :excellent_cap_pct, :opened_by) "
        "ON CONFLICT (year) DO NOTHING RETURNING year"), cycle)).scalar() is not None


async def update_cycle(db: AsyncConnection, year: int, *, self_assessment_due, decision_due,
                       excellent_cap_pct: int) -> None:
    await db.execute(text(
        "UPDATE review_cycles SET self_assessment_due = :s, decision_due = :d, excellent_cap_pct = :c, "
        "updated_at = now() WHERE year = :y"),
        {"y": year, "s": self_assessment_due, "d": decision_due, "c": excellent_cap_pct})


# --- members and their reviews -------------------------------------------------------------------

async def member(db: AsyncConnection, member_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    row = (await db.execute(text(
        f"SELECT {MEMBER_COLUMNS} FROM members m JOIN org_units u ON u.id = m.unit_id WHERE m.id = :id"
        + (" FOR UPDATE OF m" if lock else "")), {"id": member_id})).mappings().first()
    return dict(row) if row else None


async def review(db: AsyncConnection, year: int, member_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    row = (await db.execute(text(
        f"SELECT {REVIEW_COLUMNS} FROM {REVIEW_FROM} WHERE r.year = :y AND r.member_id = :m"
        + (" FOR UPDATE OF r" if lock else "")), {"y": year, "m": member_id})).mappings().first()
    return dict(row) if row else None


async def submit(db: AsyncConnection, *, review_id: Any, year: int, member: dict[str, Any], self_assessment: str,
                 proposed_level: str) -> bool:
    """The member's self-assessment written, or written again; False when the unit decided meanwhile."""
    return (await db.execute(text(
        "INSERT INTO reviews (id, year, member_id, unit_id, self_assessment, proposed_level, submitted_at) "
        "VALUES (:id, :y, :m, :u, :t, :l, now()) "
        "ON CONFLICT (year, member_id) DO UPDATE SET self_assessment = EXCLUDED.self_assessment, "
        "proposed_level = EXCLUDED.proposed_level, submitted_at = now(), unit_id = EXCLUDED.unit_id, "
        "version = reviews.version + 1, updated_at = now() WHERE reviews.decided_level IS NULL RETURNING id"),
        {"id": review_id, "y": year, "m": member["id"], "u": member["unit_id"], "t": self_assessment,
         "l": proposed_level})).scalar() is not None


async def propose(db: AsyncConnection, *, review_id: Any, year: int, member: dict[str, Any], level: str,
                  comment: str, actor: str) -> bool:
    """The cell's proposal (again, if it changes its mind); False when the unit decided meanwhile."""
    return (await db.execute(text(
        "INSERT INTO reviews (id, year, member_id, unit_id, cell_level, cell_comment, cell_by, cell_at) "
        "VALUES (:id, :y, :m, :u, :l, :c, :a, now()) "
        "ON CONFLICT (year, member_id) DO UPDATE SET cell_level = EXCLUDED.cell_level, "
        "cell_comment = EXCLUDED.cell_comment, cell_by = EXCLUDED.cell_by, cell_at = now(), "
        "unit_id = EXCLUDED.unit_id, version = reviews.version + 1, updated_at = now() "
        "WHERE reviews.decided_level IS NULL RETURNING id"),
        {"id": review_id, "y": year, "m": member["id"], "u": member["unit_id"], "l": level, "c": comment,
         "a": actor})).scalar() is not None


async def decide(db: AsyncConnection, review_id: Any, *, level: str, unit_id: Any, cell_id: Any, actor: str) -> int:
    """The unit's decision (the review locked by the caller); the review's new version."""
    return (await db.execute(text(
        "UPDATE reviews SET decided_level = :l, decided_unit_id = :du, decided_by = :a, decided_at = now(), "
        "unit_id = :u, version = version + 1, updated_at = now() WHERE id = :id RETURNING version"),
        {"id": review_id, "l": level, "du": unit_id, "a": actor, "u": cell_id})).scalar_one()


async def own(db: AsyncConnection, member_id: Any) -> list[dict[str, Any]]:
    """A member's reviews, the latest year first, each with its cycle's deadlines."""
    rows = await db.execute(text(
        f"SELECT {REVIEW_COLUMNS}, c.self_assessment_due, c.decision_due FROM {REVIEW_FROM} "
        "JOIN review_cycles c ON c.year = r.year WHERE r.member_id = :m ORDER BY r.year DESC"), {"m": member_id})
    return [dict(r) for r in rows.mappings()]


async def listed(db: AsyncConnection, *, year: int, path: str, after: tuple[str, str, str] | None,
                 limit: int) -> list[dict[str, Any]]:
    """The reviewed members of the subtree at `path` (by cell, then name), each with their review of
    `year` when there is one."""
    where = Where().within("m.unit_path", [path]).add(REVIEWED).after(
        "(m.unit_path, m.name_folded, m.id)", after, "text", "text", "uuid")
    rows = await db.execute(text(
        "SELECT m.id AS member_id, m.party_card_no, m.full_name, m.unit_path, m.name_folded, u.code AS unit, "
        "u.name AS unit_name, r.id, r.self_assessment, r.proposed_level, r.submitted_at, r.cell_level, "
        "r.cell_comment, r.cell_at, r.decided_level, r.decided_at, du.code AS decided_unit, "
        "du.name AS decided_unit_name "
        "FROM members m JOIN org_units u ON u.id = m.unit_id "
        "LEFT JOIN reviews r ON r.member_id = m.id AND r.year = :year "
        "LEFT JOIN org_units du ON du.id = r.decided_unit_id "
        f"WHERE {where} ORDER BY m.unit_path, m.name_folded, m.id LIMIT :limit"),
        where.params | {"year": year, "limit": limit})
    return [dict(r) for r in rows.mappings()]


async def cells(db: AsyncConnection, *, year: int, path: str) -> list[dict[str, Any]]:
    """Each cell of the subtree at `path` with reviewed members: how many, how many wrote their
    self-assessment, had the cell's proposal, were decided, and the decided levels."""
    where = Where().within("m.unit_path", [path]).add(REVIEWED)
    rows = await db.execute(text(
        "SELECT u.code AS unit, u.name AS unit_name, u.path, count(*) AS members, "
        "count(r.submitted_at) AS self_assessed, count(r.cell_at) AS proposed, count(r.decided_at) AS decided, "
        f"{LEVEL_COUNTS} FROM members m JOIN org_units u ON u.id = m.unit_id "
        "LEFT JOIN reviews r ON r.member_id = m.id AND r.year = :year "
        f"WHERE {where} GROUP BY u.code, u.name, u.path ORDER BY u.path"), where.params | {"year": year})
    return [dict(r) for r in rows.mappings()]


async def excellent_in(db: AsyncConnection, *, year: int, path: str) -> tuple[int, int]:
    """The reviewed members of the subtree at `path`, and how many of them were decided excellent."""
    where = Where().within("m.unit_path", [path]).add(REVIEWED)
    row = (await db.execute(text(
        "SELECT count(*) AS members, count(*) FILTER (WHERE r.decided_level = 'excellent') AS excellent "
        "FROM members m LEFT JOIN reviews r ON r.member_id = m.id AND r.year = :year "
        f"WHERE {where}"), where.params | {"year": year})).one()
    return row.members, row.excellent
