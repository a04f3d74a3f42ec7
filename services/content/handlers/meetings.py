"""Cell meetings: the secretary calls the monthly meeting (date, place,
agenda, documents sent ahead); the cell's members confirm whether they
attend; the secretary sees who answered, and how."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import domain
from services.content.handlers import articles, library
from sotay.contracts.content import AttendanceConfirmed, MeetingScheduled
from services.content.handlers.replica import reader_of
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid

COLUMNS = "m.id, m.cell, m.starts_at, m.place, m.agenda, m.documents, m.called_by, m.created_at"


@dataclass
class MeetingInput:
    cell: str
    starts_at: datetime
    place: str
    agenda: str
    documents: list[str]


async def call(db: AsyncConnection, actor: Principal, meeting: MeetingInput) -> dict[str, Any]:
    unit = (await db.execute(text("SELECT kind, path, committee FROM org_units WHERE code = :c"),
                             {"c": meeting.cell})).first()
    problems = []
    if unit is None or unit.kind != "cell":
        problems.append(("cell", f"{meeting.cell} is not a party cell"))
    if meeting.starts_at.tzinfo is None:
        problems.append(("starts_at", "needs a time zone (e.g. 2026-12-05T08:00:00+07:00)"))
    elif meeting.starts_at < datetime.now(UTC):
        problems.append(("starts_at", "is in the past"))
    for name in ("place", "agenda"):
        if not getattr(meeting, name).strip():
            problems.append((name, "is required"))
    problems += await library.not_in_library(db, actor, "documents", meeting.documents)
    if problems:
        raise invalid(problems)
    if not domain.covers(await articles.scope_paths(db, actor, domain.SECRETARIES), unit.path):
        raise Problem(403, "Forbidden", "Only the cell's secretary (or an admin above it) calls its meetings.")
    meeting_id = uuid7()
    await db.execute(text(
        "INSERT INTO meetings (id, cell, cell_path, starts_at, place, agenda, documents, called_by) "
        "VALUES (:id, :cell, :path, :at, :place, :agenda, CAST(:docs AS uuid[]), :by)"),
        {"id": meeting_id, "cell": meeting.cell, "path": unit.path, "at": meeting.starts_at,
         "place": meeting.place.strip(), "agenda": meeting.agenda.strip(), "docs": meeting.documents,
         "by": actor.subject})
    await articles.emit(db, MeetingScheduled(meeting_id=str(meeting_id), cell=meeting.cell,
                                             starts_at=meeting.starts_at, place=meeting.place.strip(),
                                             documents=meeting.documents),
                        aggregate_id=meeting_id, committee=unit.committee, unit=meeting.cell)
    return await _load(db, meeting_id, actor.subject)


async def _load(db: AsyncConnection, meeting_id: Any, me: str) -> dict[str, Any] | None:
    row = (await db.execute(text(
        f"SELECT {COLUMNS}, m.cell_path, a.attending AS my_answer FROM meetings m "
        "LEFT JOIN attendance a ON a.meeting_id = m.id AND a.account_id = :me WHERE m.id = :id"),
        {"id": meeting_id, "me": me})).mappings().first()
    return dict(row) if row else None


async def _my_cell(db: AsyncConnection, actor: Principal) -> tuple[str | None, Any]:
    reader = await reader_of(db, actor)
    return reader["unit"], reader["member_id"]


async def upcoming(db: AsyncConnection, actor: Principal, cell: str | None) -> list[dict[str, Any]]:
    """The caller's own cell's meetings, or (for its secretary) a given cell's."""
    if cell is not None:
        path = (await articles.unit_paths(db, [cell]))[cell]
        if path is None or not domain.covers(await articles.scope_paths(db, actor, domain.SECRETARIES), path):
            raise Problem(403, "Forbidden", "That cell is not one of yours.")
    else:
        cell, _ = await _my_cell(db, actor)
    rows = await db.execute(text(
        f"SELECT {COLUMNS}, a.attending AS my_answer FROM meetings m "
        "LEFT JOIN attendance a ON a.meeting_id = m.id AND a.account_id = :me "
        "WHERE m.cell = :cell AND m.starts_at > now() - interval '31 days' ORDER BY m.starts_at DESC LIMIT 50"),
        {"cell": cell, "me": actor.subject})
    return [dict(r._mapping) for r in rows]


async def _visible(db: AsyncConnection, actor: Principal, meeting_id: Any) -> dict[str, Any]:
    meeting = await _load(db, meeting_id, actor.subject)
    if meeting is None:
        raise Problem(404, "Not found", "No such meeting of your cell.")
    cell, _ = await _my_cell(db, actor)
    if meeting["cell"] != cell and not domain.covers(
            await articles.scope_paths(db, actor, domain.SECRETARIES), meeting["cell_path"]):
        raise Problem(404, "Not found", "No such meeting of your cell.")
    return meeting


async def one(db: AsyncConnection, actor: Principal, meeting_id: Any) -> dict[str, Any]:
    return await _visible(db, actor, meeting_id)


async def answer(db: AsyncConnection, actor: Principal, meeting_id: Any, attending: bool,
                 note: str | None) -> dict[str, Any]:
    meeting = await _visible(db, actor, meeting_id)
    cell, member_id = await _my_cell(db, actor)
    if meeting["cell"] != cell:
        raise Problem(403, "Forbidden", "Only the cell's own members answer its call.")
    if meeting["starts_at"] < datetime.now(UTC):
        raise Problem(409, "Meeting started", "This meeting has already started.")
    await db.execute(text(
        "INSERT INTO attendance (meeting_id, account_id, member_id, attending, note) VALUES (:m, :a, :mem, :y, :n) "
        "ON CONFLICT (meeting_id, account_id) DO UPDATE SET attending = :y, note = :n, answered_at = now()"),
        {"m": meeting_id, "a": actor.subject, "mem": member_id, "y": attending, "n": note})
    committee = (await db.execute(text("SELECT committee FROM org_units WHERE code = :c"), {"c": cell})).scalar()
    await articles.emit(db, AttendanceConfirmed(meeting_id=str(meeting_id), cell=cell, account_id=actor.subject,
                                                member_id=str(member_id) if member_id else None,
                                                attending=attending),
                        aggregate_id=meeting_id, committee=committee or "city", unit=cell)
    return await _load(db, meeting_id, actor.subject)


async def roll(db: AsyncConnection, actor: Principal, meeting_id: Any) -> dict[str, Any]:
    """For the secretary: every member of the cell (from the registry replica)
    with their answer, or none yet."""
    meeting = await _load(db, meeting_id, actor.subject)
    if meeting is None or not domain.covers(await articles.scope_paths(db, actor, domain.SECRETARIES),
                                            meeting["cell_path"]):
        raise Problem(404, "Not found", "No such meeting of a cell of yours.")
    rows = (await db.execute(text(
        "SELECT r.member_id, r.full_name, a.attending, a.note, a.answered_at FROM readers r "
        "LEFT JOIN attendance a ON a.meeting_id = :m AND a.member_id = r.member_id "
        "WHERE r.unit = :cell AND r.status IN ('active', 'probationary', 'exempt') ORDER BY r.full_name"),
        {"m": meeting_id, "cell": meeting["cell"]})).mappings().all()
    members = [dict(r) for r in rows]
    return {"meeting_id": str(meeting_id), "cell": meeting["cell"], "members": members,
            "attending": sum(m["attending"] is True for m in members),
            "not_attending": sum(m["attending"] is False for m in members),
            "no_answer": sum(m["attending"] is None for m in members)}
