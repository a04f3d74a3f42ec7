"""The SQL of cell meetings: the calls and the members' answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

COLUMNS = "m.id, m.cell, m.starts_at, m.place, m.agenda, m.documents, m.called_by, m.created_at"


async def insert(db: AsyncConnection, meeting_id: Any, cell: str, cell_path: str, starts_at: datetime, place: str,
                 agenda: str, documents: list[str], called_by: str) -> None:
    await db.execute(text(
        "INSERT INTO meetings (id, cell, cell_path, starts_at, place, agenda, documents, called_by) "
        "VALUES (:id, :cell, :path, :at, :place, :agenda, CAST(:docs AS uuid[]), :by)"),
        {"id": meeting_id, "cell": cell, "path": cell_path, "at": starts_at, "place": place, "agenda": agenda,
         "docs": documents, "by": called_by})


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
    """Every member of the cell (from the registry replica) with their answer, or none yet."""
    rows = (await db.execute(text(
        "SELECT r.member_id, r.full_name, a.attending, a.note, a.answered_at FROM readers r "
        "LEFT JOIN attendance a ON a.meeting_id = :m AND a.member_id = r.member_id "
        "WHERE r.unit = :cell AND r.status IN ('active', 'probationary', 'exempt') ORDER BY r.full_name"),
        {"m": meeting_id, "cell": cell})).mappings().all()
    return [dict(r) for r in rows]
