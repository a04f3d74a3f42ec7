"""The history of the figures: those last published each Hanoi day (`unit_daily`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def keep_days_before(conn: AsyncConnection, midnight: datetime) -> None:
    """The figures last published on each day before `midnight` (Hanoi) go into the history."""
    await conn.execute(text(
        "INSERT INTO unit_daily (unit, day, figures) "
        "SELECT unit, CAST(published_at AT TIME ZONE INTERVAL '+07:00' AS date), CAST(figures AS jsonb) "
        "FROM published WHERE published_at < :midnight "
        "ON CONFLICT (unit, day) DO UPDATE SET figures = EXCLUDED.figures"),
        {"midnight": midnight})


async def kept_on(db: AsyncConnection, unit: str, day: date) -> dict[str, Any] | None:
    """The unit's figures as last kept on or before `day` (None when none were)."""
    return (await db.execute(text(
        "SELECT figures FROM unit_daily WHERE unit = :u AND day <= :d ORDER BY day DESC LIMIT 1"),
        {"u": unit, "d": day})).scalar()


async def points(db: AsyncConnection, unit: str, figure: str, since: date | None, until: date | None,
                 today: date) -> list[dict[str, Any]]:
    """A figure of the unit day by day between `since` and `until`: earlier days
    from the history, today from what was last published."""
    rows = await db.execute(text(
        "SELECT day, figures -> :f AS value FROM unit_daily WHERE unit = :u AND day < :today "
        "AND (CAST(:s AS date) IS NULL OR day >= :s) AND (CAST(:t AS date) IS NULL OR day <= :t) "
        "UNION ALL SELECT CAST(:today AS date), CAST(figures AS jsonb) -> :f FROM published WHERE unit = :u "
        "AND (CAST(:s AS date) IS NULL OR :today >= :s) AND (CAST(:t AS date) IS NULL OR :today <= :t) "
        "ORDER BY day"), {"f": figure, "u": unit, "s": since, "t": until, "today": today})
    return [{"day": r.day.isoformat(), "value": r.value} for r in rows]
