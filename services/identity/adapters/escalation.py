"""The SQL of escalation (handlers/escalation.py): registrations waiting at their unit past the
approval term, not yet escalated, with the unit above theirs; and marking them escalated."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def claim_overdue(db: AsyncConnection, days: int, batch: int) -> list[dict[str, Any]]:
    """At most `batch` pending registrations of a unit of the registry, submitted more than `days`
    ago and not escalated, locked for this transaction (those another holds: next round)."""
    rows = (await db.execute(text(
        "SELECT g.id, g.unit, g.committee, g.submitted_at, u.path AS unit_path FROM registrations g "
        "JOIN registry_units u ON u.code = g.unit "
        "WHERE g.status = 'pending' AND g.escalated_at IS NULL AND g.unit IS NOT NULL "
        "AND g.submitted_at < now() - make_interval(days => CAST(:days AS int)) "
        "ORDER BY g.submitted_at LIMIT :n FOR UPDATE OF g SKIP LOCKED"), {"days": days, "n": batch})).mappings()
    return [dict(r) for r in rows]


async def mark_escalated(db: AsyncConnection, registration_id: Any, to: str) -> None:
    await db.execute(text("UPDATE registrations SET escalated_at = now(), escalated_to = :to WHERE id = :id"),
                     {"id": registration_id, "to": to})
