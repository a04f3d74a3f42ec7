"""The SQL of the registry's retention (handlers/retention.py): the members who left long enough
ago and still hold identifiers, and dropping those identifiers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Left (deceased, removed, transferred out) more than :years ago (their last status change, or
# their entry into the registry when they entered it already gone), identifiers still held.
_DUE = (
    "FROM members m WHERE m.status IN ('deceased', 'removed', 'transferred_out') "
    "AND (m.sealed IS NOT NULL OR m.citizen_id_hash IS NOT NULL OR m.phone_hash IS NOT NULL "
    "OR m.date_of_birth_hash IS NOT NULL) "
    "AND coalesce((SELECT max(h.at) FROM member_history h WHERE h.member_id = m.id AND h.action = 'status_changed'), "
    "m.created_at) < now() - make_interval(years => CAST(:years AS int))")


async def count_due(db: AsyncConnection, years: int) -> dict[str, int]:
    members = (await db.execute(text(f"SELECT count(*) {_DUE}"), {"years": years})).scalar_one()
    requests = (await db.execute(text(
        f"SELECT count(*) FROM correction_requests WHERE sealed IS NOT NULL AND member_id IN (SELECT m.id {_DUE})"),
        {"years": years})).scalar_one()
    return {"members": members, "correction_requests": requests}


async def claim_due(db: AsyncConnection, years: int, batch: int) -> list[Any]:
    """At most `batch` members due, locked for this transaction (those another holds: next run)."""
    return list((await db.execute(text(
        f"SELECT m.id {_DUE} ORDER BY m.id LIMIT :n FOR UPDATE OF m SKIP LOCKED"),
        {"years": years, "n": batch})).scalars().all())


async def drop_identifiers(db: AsyncConnection, ids: list[Any]) -> int:
    """The members' sealed citizen ID, phone and date of birth and their hashes, and what their
    correction requests proposed of them; the number of correction requests changed."""
    await db.execute(text(
        "UPDATE members SET sealed = NULL, citizen_id_hash = NULL, phone_hash = NULL, date_of_birth_hash = NULL, "
        "citizen_id = NULL, "
        "phone = NULL, date_of_birth = NULL, version = version + 1, updated_at = now() WHERE id = ANY(:ids)"),
        {"ids": ids})
    return (await db.execute(text(
        "UPDATE correction_requests SET sealed = NULL WHERE member_id = ANY(:ids) AND sealed IS NOT NULL"),
        {"ids": ids})).rowcount
