"""Cell meetings (issue 20): the secretary plans the month's regular meeting by the 20th of the
month before, or a thematic one (date, place, agenda, documents sent ahead); the cell's members
confirm whether they attend, with a reason when not; once it has started the secretary records who
came and attaches the minutes; the members absent without a reason two meetings running are listed
to the secretary; the units above see which cells planned a month's meeting, and on time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import domain
from services.content.adapters import meetings as store
from services.content.adapters.library import not_in_library
from services.content.handlers.overseen import subtrees
from services.content.adapters.replica import ORG, committee_of_unit, reader_of, unit, unit_paths
from services.content.domain import meetings as calendar
from sotay.contracts.content import AttendanceConfirmed, AttendanceRecorded, MeetingHeld, MeetingScheduled
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
    kind: str = "regular"


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
                       meeting.agenda.strip(), meeting.documents, actor.subject, meeting.kind)
    await emit(db, SCHEMA, MeetingScheduled(meeting_id=str(meeting_id), cell=meeting.cell,
                                            starts_at=meeting.starts_at, place=meeting.place.strip(),
                                            documents=meeting.documents, kind=meeting.kind),
               aggregate_id=meeting_id, committee=cell.committee, unit=meeting.cell)
    return await store.load(db, meeting_id, actor.subject)


async def _my_cell(db: AsyncConnection, actor: Principal) -> tuple[str | None, Any]:
    """The cell whose meetings the caller attends: the host cell during a temporary transfer."""
    reader = await reader_of(db, actor)
    return reader.get("temporary_unit") or reader["unit"], reader["member_id"]


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
            "no_answer": sum(m["attending"] is None for m in members),
            "present": sum(m["present"] is True for m in members)}


async def _secretarys(db: AsyncConnection, actor: Principal, meeting_id: Any) -> dict[str, Any]:
    meeting = await store.load(db, meeting_id, actor.subject)
    if meeting is None or not covers(await ORG.scope_paths(db, actor, domain.SECRETARIES), meeting["cell_path"]):
        raise Problem(404, "Not found", "No such meeting of a cell of yours.")
    return meeting


async def record(db: AsyncConnection, actor: Principal, meeting_id: Any, *, present: list[str],
                 excused: dict[str, str], minutes: str | None) -> dict[str, Any]:
    """The secretary records who came (a tick list of the cell's members; an absent member's
    reason is theirs from their answer unless the secretary gives one) and attaches the minutes, a
    document of the library. Once the meeting has started; again to correct it."""
    meeting = await _secretarys(db, actor, meeting_id)
    if meeting["starts_at"] > datetime.now(UTC):
        raise Problem(409, "Not started", "A meeting is recorded once it has started.", code="meeting_not_started")
    roll_ = await store.roll(db, meeting_id, meeting["cell"])
    members = {str(m["member_id"]): m for m in roll_}
    problems = calendar.presence_problems(present, excused, set(members))
    problems += await not_in_library(db, actor, "minutes", [minutes] if minutes else [])
    if problems:
        raise invalid(problems)
    answered = {str(m["member_id"]): m["note"] for m in roll_ if m["attending"] is False and m["note"]}
    presence = [(m, True, None) if m in present else (m, False, (excused.get(m) or answered.get(m) or "").strip()
                                                      or None) for m in members]
    held_at = await store.record(db, meeting_id, presence, minutes, actor.subject)
    committee = await committee_of_unit(db, meeting["cell"]) or "city"
    came = [m for m, here, _ in presence if here]
    if meeting["held_at"] is None:
        await emit(db, SCHEMA, MeetingHeld(meeting_id=str(meeting_id), cell=meeting["cell"], kind=meeting["kind"],
                                           starts_at=meeting["starts_at"], held_at=held_at, members=len(presence),
                                           present=len(came), minutes=minutes is not None),
                   aggregate_id=meeting_id, committee=committee, unit=meeting["cell"])
    await emit(db, SCHEMA, AttendanceRecorded(
        meeting_id=str(meeting_id), cell=meeting["cell"], present=came,
        excused=[m for m, here, why in presence if not here and why], absent=[m for m, here, why in presence
                                                                             if not here and not why]),
        aggregate_id=meeting_id, committee=committee, unit=meeting["cell"])
    return await store.load(db, meeting_id, actor.subject)


async def absences(db: AsyncConnection, actor: Principal, cell: str) -> list[dict[str, Any]]:
    """For the cell's secretary: its members absent without a reason from its last two regular
    meetings held (two months running)."""
    path = (await unit_paths(db, [cell]))[cell]
    if path is None or not covers(await ORG.scope_paths(db, actor, domain.SECRETARIES), path):
        raise Problem(403, "Forbidden", "That cell is not one of yours.")
    return await store.absent_in_a_row(db, cell)


async def planning(db: AsyncConnection, actor: Principal, unit_code: str | None, month: date) -> dict[str, Any]:
    """Which cells under the unit (the caller's units when none is given) have the month's
    regular meeting planned, and whether by the 20th of the month before; which held it, and the
    attendance: members present of those recorded, over the cells' regular meetings of the month."""
    scopes = await subtrees(db, actor, domain.MEETING_OVERSEERS, unit_code,
                            "Only cell secretaries and unit or city admins follow the planning.")
    start, end = calendar.month_bounds(month)
    deadline = calendar.planning_deadline(month)
    rows = await store.planned(db, scopes, start, end)
    cells = [{"cell": c["code"], "name": c["name"], "meeting_id": str(c["meeting_id"]) if c["meeting_id"] else None,
              "starts_at": c["starts_at"], "planned_at": c["planned_at"], "held_at": c["held_at"],
              "on_time": c["planned_at"] is not None and c["planned_at"] < deadline,
              "present": c["present"], "recorded": c["recorded"]} for c in rows]
    present, recorded = sum(c["present"] for c in cells), sum(c["recorded"] for c in cells)
    return {"month": calendar.first_of(month).isoformat()[:7], "deadline": deadline, "cells": cells,
            "planned": sum(c["meeting_id"] is not None for c in cells),
            "on_time": sum(c["on_time"] for c in cells), "total": len(cells),
            "held": sum(c["held_at"] is not None for c in cells), "present": present, "recorded": recorded,
            "attendance_pct": round(present * 100 / recorded, 2) if recorded else None}
