"""SQL for password reset codes (migrations/005_password_resets.sql): issued, tried, used, voided.
Only a code's keyed hash is ever written."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def account_by_card(db: AsyncConnection, card_no: str) -> dict[str, Any] | None:
    """An account by its card, with the name its registration gave (matched against the registry's)."""
    row = (await db.execute(text(
        "SELECT a.id, a.member_id, a.party_card_no, a.unit, a.unit_path, a.committee, a.status, g.full_name "
        "FROM accounts a LEFT JOIN registrations g ON g.id = a.registration_id WHERE a.party_card_no = :c"),
        {"c": card_no})).mappings().first()
    return dict(row) if row else None


async def issue(db: AsyncConnection, *, code_id: Any, account_id: Any, code_hash: str, issued_by: str,
                expires_at: datetime) -> int:
    """A new live code for the account; the live one before it (if any) is voided. How many were voided."""
    voided = (await db.execute(text(
        "UPDATE password_reset_codes SET voided_at = now() WHERE account_id = :a AND used_at IS NULL "
        "AND voided_at IS NULL RETURNING 1"), {"a": account_id})).all()
    await db.execute(text(
        "INSERT INTO password_reset_codes (id, account_id, code_hash, issued_by, expires_at) "
        "VALUES (:id, :a, :h, :by, :e)"),
        {"id": code_id, "a": account_id, "h": code_hash, "by": issued_by, "e": expires_at})
    return len(voided)


async def live_code(db: AsyncConnection, account_id: Any) -> dict[str, Any] | None:
    """The account's live code (neither used nor voided; it may have expired), locked, with
    whether it has expired by the database's clock."""
    row = (await db.execute(text(
        "SELECT *, expires_at <= now() AS expired FROM password_reset_codes WHERE account_id = :a "
        "AND used_at IS NULL AND voided_at IS NULL FOR UPDATE"), {"a": account_id})).mappings().first()
    return dict(row) if row else None


async def wrong_attempt(db: AsyncConnection, code_id: Any, *, void_at: int) -> bool:
    """Count a wrong code against the live one; void it when it reaches `void_at`. Whether it was voided."""
    return (await db.execute(text(
        "UPDATE password_reset_codes SET attempts = attempts + 1, "
        "voided_at = CASE WHEN attempts + 1 >= :n THEN now() END WHERE id = :id RETURNING voided_at IS NOT NULL"),
        {"id": code_id, "n": void_at})).scalar_one()


async def use(db: AsyncConnection, code_id: Any) -> None:
    await db.execute(text("UPDATE password_reset_codes SET used_at = now() WHERE id = :id"), {"id": code_id})


async def set_password(db: AsyncConnection, account_id: Any, password_hash: str) -> None:
    """The account's new password; every refresh token it had stops working."""
    await db.execute(text("UPDATE accounts SET password_hash = :h WHERE id = :id"),
                     {"h": password_hash, "id": account_id})
    await db.execute(text("UPDATE refresh_tokens SET revoked_at = now() WHERE account_id = :a "
                          "AND revoked_at IS NULL"), {"a": account_id})
