"""Training sessions: metrics' own records (`training_sessions`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def record(db: AsyncConnection, session_id: Any, unit: str, held_on: date, topic: str, people: int,
                 recorded_by: str) -> None:
    await db.execute(text(
        "INSERT INTO training_sessions (id, unit, held_on, topic, people, recorded_by) "
        "VALUES (:id, :u, :d, :t, :n, :by)"),
        {"id": session_id, "u": unit, "d": held_on, "t": topic, "n": people, "by": recorded_by})


async def in_subtree(db: AsyncConnection, path: str) -> list[dict[str, Any]]:
    """The sessions held in the subtree at `path`, latest first (at most 500)."""
    rows = await db.execute(text(
        "SELECT t.id, t.unit, t.held_on, t.topic, t.people FROM training_sessions t JOIN units u "
        "ON u.code = t.unit WHERE u.path LIKE :p ORDER BY t.held_on DESC, t.id LIMIT 500"),
        {"p": path + "%"})
    return [dict(r._mapping) for r in rows]


async def count_all(db: AsyncConnection) -> None:
    """Add every session's counters back (training is no event of others: a rebuild takes it from the table)."""
    await db.execute(text(
        "INSERT INTO counter_deltas (unit, metric, n) SELECT unit, 'trained_people', sum(people) "
        "FROM training_sessions GROUP BY unit UNION ALL "
        "SELECT unit, 'training_sessions', count(*) FROM training_sessions GROUP BY unit"))


async def copy_from_live(db: AsyncConnection) -> None:
    """Into a scratch schema (the connection's): the live schema's sessions."""
    await db.execute(text("INSERT INTO training_sessions SELECT * FROM metrics.training_sessions"))
