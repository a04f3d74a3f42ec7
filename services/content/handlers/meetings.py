"""Cell meetings: the secretary calls the monthly meeting (date, place,
agenda, documents sent ahead); the cell's members confirm whether they
attend; the secretary sees who answered, and how."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import domain
from services.content.adapters import meetings as store
from services.content.adapters.library import not_in_library
from services.content.adapters.replica import ORG, committee_of_unit, reader_of, unit, unit_paths
from sotay.contracts.content import AttendanceConfirmed, MeetingScheduled
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import covers

SCHEMA = "content"


@dataclass
class MeetingInput:
    cell: str
    starts_at: datetime
    place: str
    agenda: str
    documents: list[str]


async def call(db: AsyncConnection, actor: Principal, meeting: MeetingInput) -> dict[str, Any]:
    cell = await unit(db, meeting.cell)
    problems = []
    if cell is None or cell.kind != "cell":
        problems.append(("cell", f"{meeting.cell} is not a party cell"))
    if meeting.starts_at.tzinfo is None:
        problems.append(("starts_at", "needs a time zone (e.g. 2026-12-05T08:00:00+07:00)"))
    elif meeting.starts_at < datetime.now(UTC):
        problems.append(("starts_at", "is in the past"))
    for name in ("place", "agenda"):
        if not getattr(meeting, name).strip():
            problems.append((name, "is required"))
    problems += await not_in_library(db, actor, "documents", meeting.documents)
    if problems:
        raise invalid(problems)
    await ORG.require(db, actor, cell.path, domain.SECRETARIES,
                      "Only the cell's secretary (or an admin above it) calls its meetings.")
    meeting_id = uuid7()
    await store.insert(db, meeting_id, meeting.cell, cell.path, meeting.starts_at, meeting.place.strip(),
                       meeting.agenda.strip(), meeting.documents, actor.subject)
    await emit(db, SCHEMA, MeetingScheduled(meeting_id=str(meeting_id), cell=meeting.cell,
                                            starts_at=meeting.starts_at, place=meeting.place.strip(),
                                            documents=meeting.documents),
               aggregate_id=meeting_id, committee=cell.committee, unit=meeting.cell)
    return await store.load(db, meeting_id, actor.subject)


async def _my_cell(db: AsyncConnection, actor: Principal) -> tuple[str | None, Any]:
    reader = await reader_of(db, actor)
    return reader["unit"], reader["member_id"]


async def upcoming(db: AsyncConnection, actor: Principal, cell: str | None) -> list[dict[str, Any]]:
    """The caller's own cell's meetings, or (for its secretary) a given cell's."""
    if cell is not None:
        path = (await unit_paths(db, [cell]))[cell]
        if path is None or not covers(await ORG.scope_paths(db, actor, domain.SECRETARIES), path):
            raise Problem(403, "Forbidden", "That cell is not one of yours.")
    else:
        cell, _ = await _my_cell(db, actor)
    return await store.of_cell(db, cell, actor.subject)


async def _visible(db: AsyncConnection, actor: Principal, meeting_id: Any) -> dict[str, Any]:
    meeting = await store.load(db, meeting_id, actor.subject)
    if meeting is None:
        raise Problem(404, "Not found", "No such meeting of your cell.")
    cell, _ = await _my_cell(db, actor)
    if meeting["cell"] != cell and not covers(
            await ORG.scope_paths(db, actor, domain.SECRETARIES), meeting["cell_path"]):
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
    await store.answer(db, meeting_id, actor.subject, member_id, attending, note)
    committee = await committee_of_unit(db, cell)
    await emit(db, SCHEMA, AttendanceConfirmed(meeting_id=str(meeting_id), cell=cell, account_id=actor.subject,
                                               member_id=str(member_id) if member_id else None,
                                               attending=attending),
               aggregate_id=meeting_id, committee=committee or "city", unit=cell)
    return await store.load(db, meeting_id, actor.subject)


async def roll(db: AsyncConnection, actor: Principal, meeting_id: Any) -> dict[str, Any]:
    """For the secretary: every member of the cell (from the registry replica)
    with their answer, or none yet."""
    meeting = await store.load(db, meeting_id, actor.subject)
    if meeting is None or not covers(await ORG.scope_paths(db, actor, domain.SECRETARIES), meeting["cell_path"]):
        raise Problem(404, "Not found", "No such meeting of a cell of yours.")
    members = await store.roll(db, meeting_id, meeting["cell"])
    return {"meeting_id": str(meeting_id), "cell": meeting["cell"], "members": members,
            "attending": sum(m["attending"] is True for m in members),
            "not_attending": sum(m["attending"] is False for m in members),
            "no_answer": sum(m["attending"] is None for m in members)}
