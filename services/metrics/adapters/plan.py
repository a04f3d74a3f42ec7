"""The rollout plan: its waves (`waves`)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection


async def waves(db: AsyncConnection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in await db.execute(text("SELECT * FROM waves ORDER BY number"))]


async def set_wave(db: AsyncConnection, number: int, name: str, starts_on: date, target_pct: float,
                   deadline: date) -> None:
    await db.execute(text(
        "INSERT INTO waves (number, name, starts_on, target_pct, deadline) VALUES (:n, :name, :s, :t, :d) "
        "ON CONFLICT (number) DO UPDATE SET name = :name, starts_on = :s, target_pct = :t, deadline = :d"),
        {"n": number, "name": name, "s": starts_on, "t": target_pct, "d": deadline})
