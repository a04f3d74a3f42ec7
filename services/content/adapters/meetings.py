"""The SQL of cell meetings: the calls, the members' answers, who came (recorded by the
secretary), the absences in a row, and which cells planned a month's regular meeting."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

COLUMNS = ("m.id, m.cell, m.starts_at, m.place, m.agenda, m.documents, m.called_by, m.created_at, m.kind, "
           "m.held_at, m.minutes, (SELECT count(*) FILTER (WHERE p.present) FROM meeting_presence p "
           "WHERE p.meeting_id = m.id) AS present")


async def insert(db: AsyncConnection, meeting_id: Any, cell: str, cell_path: str, starts_at: datetime, place: str,
                 agenda: str, documents: list[str], called_by: str, kind: str = "regular") -> None:
    await db.execute(text(
        "INSERT INTO meetings (id, cell, cell_path, starts_at, place, agenda, documents, called_by, kind) "
        "VALUES (:id, :cell, :path, :at, :place, :agenda, CAST(:docs AS uuid[]), :by, :kind)"),
        {"id": meeting_id, "cell": cell, "path": cell_path, "at": starts_at, "place": place, "agenda": agenda,
         "docs": documents, "by": called_by, "kind": kind})


async def load(db: AsyncConnection, meeting_id: Any, me: str) -> dict[str, Any] | None:
    """The meeting, with the cell's path and `me`'s answer."""
    row = (await db.execute(text(
        f"SELECT {COLUMNS}, m.cell_path, a.attending AS my_answer FROM meetings m "
        "LEFT JOIN attendance a ON a.meeting_id = m.id AND a.account_id = :me WHERE m.id = :id"),
        {"id": meeting_id, "me": me})).mappings().first()
    return dict(row) if row else None


async def of_cell(db: AsyncConnection, cell: str | None, me: str) -> list[dict[str, Any]]:
    """The cell's meetings of the last month and to come, with `me`'s answers."""
    rows = await db.execute(text(
        f"SELECT {COLUMNS}, a.attending AS my_answer FROM meetings m "
        "LEFT JOIN attendance a ON a.meeting_id = m.id AND a.account_id = :me "
        "WHERE m.cell = :cell AND m.starts_at > now() - interval '31 days' ORDER BY m.starts_at DESC LIMIT 50"),
        {"cell": cell, "me": me})
    return [dict(r._mapping) for r in rows]


async def answer(db: AsyncConnection, meeting_id: Any, account: str, member_id: Any, attending: bool,
                 note: str | None) -> None:
    await db.execute(text(
        "INSERT INTO attendance (meeting_id, account_id, member_id, attending, note) VALUES (:m, :a, :mem, :y, :n) "
        "ON CONFLICT (meeting_id, account_id) DO UPDATE SET attending = :y, note = :n, answered_at = now()"),
        {"m": meeting_id, "a": account, "mem": member_id, "y": attending, "n": note})


async def roll(db: AsyncConnection, meeting_id: Any, cell: str) -> list[dict[str, Any]]:
    """Every member attending the cell (from the registry replica: its own members, or those on a
    temporary transfer there instead of at home) with their answer, or none yet, and whether they
    came, once recorded (`present`, with the reason of an absence)."""
    rows = (await db.execute(text(
        "SELECT r.member_id, r.full_name, a.attending, a.note, a.answered_at, p.present, p.reason FROM readers r "
        "LEFT JOIN attendance a ON a.meeting_id = :m AND a.member_id = r.member_id "
        "LEFT JOIN meeting_presence p ON p.meeting_id = :m AND p.member_id = r.member_id "
        "WHERE coalesce(r.temporary_unit, r.unit) = :cell AND r.status IN ('active', 'probationary', 'exempt') "
        "ORDER BY r.full_name NULLS LAST, r.member_id"),
        {"m": meeting_id, "cell": cell})).mappings().all()
    return [dict(r) for r in rows]


async def record(db: AsyncConnection, meeting_id: Any, presence: list[tuple[Any, bool, str | None]],
                 minutes: str | None, actor: str) -> datetime:
    """Who came (replacing what was recorded before) and the minutes; when it was first held."""
    await db.execute(text("DELETE FROM meeting_presence WHERE meeting_id = :m"), {"m": meeting_id})
    await db.execute(text(
        "INSERT INTO meeting_presence (meeting_id, member_id, present, reason) "
        "SELECT :m, u.member_id, u.present, u.reason FROM unnest(CAST(:ids AS uuid[]), CAST(:present AS boolean[]), "
        "CAST(:reasons AS text[])) AS u(member_id, present, reason)"),
        {"m": meeting_id, "ids": [p[0] for p in presence], "present": [p[1] for p in presence],
         "reasons": [p[2] for p in presence]})
    return (await db.execute(text(
        "UPDATE meetings SET held_at = coalesce(held_at, now()), minutes = CAST(:minutes AS uuid), "
        "recorded_by = :by WHERE id = :m RETURNING held_at"),
        {"m": meeting_id, "minutes": minutes, "by": actor})).scalar_one()


async def absent_in_a_row(db: AsyncConnection, cell: str, meetings: int = 2) -> list[dict[str, Any]]:
    """The cell's members absent without a reason from each of its last `meetings` regular
    meetings that were held (months running), with those meetings' dates."""
    rows = (await db.execute(text(
        "WITH last AS (SELECT id, starts_at FROM meetings WHERE cell = :cell AND kind = 'regular' "
        "  AND held_at IS NOT NULL ORDER BY starts_at DESC LIMIT :n), "
        "missed AS (SELECT p.member_id, array_agg(l.starts_at ORDER BY l.starts_at) AS dates "
        "  FROM meeting_presence p JOIN last l ON l.id = p.meeting_id "
        "  WHERE NOT p.present AND p.reason IS NULL GROUP BY p.member_id) "
        "SELECT m.member_id, r.full_name, m.dates FROM missed m LEFT JOIN readers r ON r.member_id = m.member_id "
        "WHERE cardinality(m.dates) = :n AND (SELECT count(*) FROM last) = :n ORDER BY r.full_name NULLS LAST"),
        {"cell": cell, "n": meetings})).mappings().all()
    return [dict(r) for r in rows]


async def planned(db: AsyncConnection, paths: list[str], start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The open cells under `paths`, each with its regular meeting of [start, end) (the one held,
    else the earliest), when it was planned and held, and who came (present of recorded), or none."""
    rows = (await db.execute(text(
        "SELECT u.code, u.name, u.path, m.id AS meeting_id, m.starts_at, m.created_at AS planned_at, m.held_at, "
        "  (SELECT count(*) FILTER (WHERE p.present) FROM meeting_presence p WHERE p.meeting_id = m.id) AS present, "
        "  (SELECT count(*) FROM meeting_presence p WHERE p.meeting_id = m.id) AS recorded "
        "FROM org_units u LEFT JOIN LATERAL (SELECT id, starts_at, created_at, held_at FROM meetings "
        "  WHERE cell = u.code AND kind = 'regular' AND starts_at >= :start AND starts_at < :end "
        "  ORDER BY held_at IS NULL, starts_at LIMIT 1) m ON true "
        "WHERE u.kind = 'cell' AND NOT u.closed AND u.path LIKE ANY(:prefixes) ORDER BY u.path"),
        {"start": start, "end": end, "prefixes": [p + "%" for p in paths]})).mappings().all()
    return [dict(r) for r in rows]
