"""The SQL of identity's retention (handlers/retention.py): each table's rows past their term,
counted or deleted a batch at a time."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Each table's rows due, their clock compared with the terms (:rejected, :expired, :known days).
DUE = {
    "registrations": "status = 'rejected' AND decided_at < now() - make_interval(days => CAST(:rejected AS int))",
    "refresh_tokens": "expires_at < now() - make_interval(days => CAST(:expired AS int))",
    "password_reset_codes": "expires_at < now() - make_interval(days => CAST(:expired AS int))",
    "known_addresses": "last_ok_at < now() - make_interval(days => CAST(:expired AS int) + CAST(:known AS int))",
}


async def count_due(db: AsyncConnection, table: str, terms: dict[str, Any]) -> int:
    return (await db.execute(text(f"SELECT count(*) FROM {table} WHERE {DUE[table]}"), terms)).scalar_one()


async def delete_due(db: AsyncConnection, table: str, terms: dict[str, Any], batch: int) -> int:
    """At most `batch` of the table's rows due (rows another transaction holds are left for later)."""
    return (await db.execute(text(
        f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {DUE[table]} "
        "LIMIT :n FOR UPDATE SKIP LOCKED))"), terms | {"n": batch})).rowcount
