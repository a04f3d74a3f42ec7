"""The SQL of feedback: members' comments and letters to units, and the units' moderation setting."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.db import Where

COLUMNS = ("id, article_id, to_unit, account_id, author_name, author_unit, body, status, answer, answered_by, "
           "answered_at, created_at")


async def moderation_setting(db: AsyncConnection, unit: str) -> bool | None:
    """Whether the unit moderates its feedback (None: it never said)."""
    return (await db.execute(text("SELECT moderate_feedback FROM unit_settings WHERE unit = :u"),
                             {"u": unit})).scalar()


async def set_moderation(db: AsyncConnection, unit: str, moderate_feedback: bool, by: str) -> None:
    await db.execute(text(
        "INSERT INTO unit_settings (unit, moderate_feedback, updated_by) VALUES (:u, :m, :by) "
        "ON CONFLICT (unit) DO UPDATE SET moderate_feedback = :m, updated_by = :by, updated_at = now()"),
        {"u": unit, "m": moderate_feedback, "by": by})


async def insert(db: AsyncConnection, row: dict[str, Any]) -> None:
    await db.execute(text(
        "INSERT INTO feedback (id, article_id, to_unit, to_path, account_id, member_id, author_name, author_unit, "
        "body, status) VALUES (:id, :a, :u, :p, :acct, :m, :name, :au, :body, :s)"), row)


async def one(db: AsyncConnection, feedback_id: Any) -> dict[str, Any] | None:
    row = (await db.execute(text(f"SELECT {COLUMNS}, to_path FROM feedback WHERE id = :id"),
                            {"id": feedback_id})).mappings().first()
    return dict(row) if row else None


async def on_article(db: AsyncConnection, article_id: Any, me: str) -> list[dict[str, Any]]:
    """Visible feedback under an article, and `me`'s own."""
    rows = await db.execute(text(
        f"SELECT {COLUMNS} FROM feedback WHERE article_id = :a AND (status = 'visible' OR account_id = :me) "
        "ORDER BY created_at"), {"a": article_id, "me": me})
    return [dict(r._mapping) for r in rows]


async def by_account(db: AsyncConnection, me: str) -> list[dict[str, Any]]:
    rows = await db.execute(text(f"SELECT {COLUMNS} FROM feedback WHERE account_id = :me ORDER BY created_at DESC "
                                 "LIMIT 200"), {"me": me})
    return [dict(r._mapping) for r in rows]


async def to_units(db: AsyncConnection, paths: list[str], status: str | None, limit: int) -> list[dict[str, Any]]:
    """Feedback to the units in the subtrees at `paths`, newest first."""
    where = Where().within("to_path", paths).add("status = :s", s=status)
    rows = await db.execute(text(f"SELECT {COLUMNS} FROM feedback WHERE {where} ORDER BY created_at DESC LIMIT :n"),
                            where.params | {"n": limit})
    return [dict(r._mapping) for r in rows]


async def set_status(db: AsyncConnection, feedback_id: Any, status: str, by: str) -> None:
    await db.execute(text("UPDATE feedback SET status = :s, moderated_by = :by WHERE id = :id"),
                     {"s": status, "by": by, "id": feedback_id})


async def set_answer(db: AsyncConnection, feedback_id: Any, body: str, by: str) -> None:
    await db.execute(text("UPDATE feedback SET answer = :b, answered_by = :by, answered_at = now() WHERE id = :id"),
                     {"b": body, "by": by, "id": feedback_id})
