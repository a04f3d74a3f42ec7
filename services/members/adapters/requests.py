"""SQL for the data-subject request ledger (005_subject_requests.sql): a member's requests, their
deadlines and how their unit answered. Which unit answers is the member's unit now."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.db import Where

OPEN = ("received", "acknowledged", "extended")

# Overdue on `today` (a Hanoi day): not acknowledged after its acknowledge-by day, or still open
# after its due day (or the day it was extended to).
_OVERDUE = ("((r.status = 'received' AND r.acknowledge_by < :today) OR "
            "(r.status IN ('received', 'acknowledged', 'extended') AND coalesce(r.extended_to, r.due_by) < :today))")
_COLUMNS = (f"r.*, {_OVERDUE} AS overdue, m.party_card_no, m.full_name, m.unit_path, u.code AS unit, "
            "u.name AS unit_name, u.committee")
_FROM = "subject_requests r JOIN members m ON m.id = r.member_id JOIN org_units u ON u.id = m.unit_id"


async def insert(db: AsyncConnection, request: dict[str, Any]) -> None:
    await db.execute(text(
        "INSERT INTO subject_requests (id, member_id, requested_by, kind, asked, correction_id, acknowledge_by, "
        "due_by) VALUES (:id, :member_id, :requested_by, :kind, :asked, :correction_id, :acknowledge_by, :due_by)"),
        {"correction_id": None, **request})


async def by_id(db: AsyncConnection, request_id: Any, *, today: date, lock: bool = False) -> dict[str, Any] | None:
    sql = f"SELECT {_COLUMNS} FROM {_FROM} WHERE r.id = :id" + (" FOR UPDATE OF r" if lock else "")
    row = (await db.execute(text(sql), {"id": request_id, "today": today})).mappings().first()
    return dict(row) if row else None


async def id_of_correction(db: AsyncConnection, correction_id: Any) -> Any | None:
    return (await db.execute(text("SELECT id FROM subject_requests WHERE correction_id = :c"),
                             {"c": correction_id})).scalar()


async def listed(db: AsyncConnection, *, scopes: list[str], member_id: Any | None, open_only: bool,
                 overdue: bool, today: date, limit: int = 500) -> list[dict[str, Any]]:
    """Requests of members in `scopes`, the most urgent first (overdue, then by the day due)."""
    where = (Where().within("m.unit_path", scopes).add("r.member_id = :member_id", member_id=member_id or None)
             .add("r.status = ANY(:open)", open=list(OPEN) if open_only else None))
    if overdue:
        where.add(_OVERDUE)
    rows = (await db.execute(text(
        f"SELECT {_COLUMNS} FROM {_FROM} WHERE {where} "
        "ORDER BY overdue DESC, coalesce(r.extended_to, r.due_by), r.received_at LIMIT :limit"),
        where.params | {"today": today, "limit": limit})).mappings()
    return [dict(r) for r in rows]


async def acknowledge(db: AsyncConnection, request_id: Any, actor: str) -> None:
    await db.execute(text(
        "UPDATE subject_requests SET status = 'acknowledged', acknowledged_at = now(), acknowledged_by = :a "
        "WHERE id = :id AND status = 'received'"), {"a": actor, "id": request_id})


async def extend(db: AsyncConnection, request_id: Any, *, to: date, reason: str, actor: str) -> None:
    """Extending answers the request too, if it was not yet acknowledged."""
    await db.execute(text(
        "UPDATE subject_requests SET status = 'extended', extended_to = :to, extension_reason = :r, "
        "acknowledged_at = coalesce(acknowledged_at, now()), acknowledged_by = coalesce(acknowledged_by, :a) "
        "WHERE id = :id"), {"to": to, "r": reason, "a": actor, "id": request_id})


async def decide(db: AsyncConnection, request_id: Any, *, status: str, outcome: str, actor: str) -> None:
    await db.execute(text(
        "UPDATE subject_requests SET status = :s, outcome = :o, decided_at = now(), decided_by = :a, "
        "acknowledged_at = coalesce(acknowledged_at, now()), acknowledged_by = coalesce(acknowledged_by, :a) "
        "WHERE id = :id"), {"s": status, "o": outcome, "a": actor, "id": request_id})


async def claim_overdue(db: AsyncConnection, today: date, batch: int) -> list[dict[str, Any]]:
    """At most `batch` overdue open requests not escalated yet, with their member's unit and the
    unit above it, locked for this transaction (those another holds: next round)."""
    rows = (await db.execute(text(
        f"SELECT r.id, u.code AS unit, u.committee, m.unit_path, "
        "  (SELECT p.code FROM org_units p WHERE p.id = u.parent_id) AS above, "
        "  coalesce(r.extended_to, r.due_by) AS due, r.acknowledge_by, r.status "
        f"FROM {_FROM} WHERE r.escalated_at IS NULL AND {_OVERDUE} "
        "ORDER BY r.received_at LIMIT :n FOR UPDATE OF r SKIP LOCKED"), {"today": today, "n": batch})).mappings()
    return [dict(r) for r in rows]


async def mark_escalated(db: AsyncConnection, request_id: Any, to: str) -> None:
    await db.execute(text("UPDATE subject_requests SET escalated_at = now(), escalated_to = :to WHERE id = :id"),
                     {"id": request_id, "to": to})
