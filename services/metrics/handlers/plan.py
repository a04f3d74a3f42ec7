"""The rollout plan: its waves, their committees' progress against target and
who is behind; city admins set a wave's start, target and deadline."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.metrics.adapters import figures, plan
from services.metrics.domain.rollout import wave_progress
from services.metrics.handlers.scope import scoped_unit
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.http import Problem, invalid


async def progress(reader: AsyncEngine, user: Principal) -> dict[str, Any]:
    async with reader.connect() as db:
        city = await scoped_unit(db, user, "city")
        today = hanoi_day()
        waves = await plan.waves(db)
        committees = await figures.of_kinds(db, ("committee",), "code")
        current = await figures.of_units(db, committees, today)
    return {"as_of": today.isoformat(), "city": city["code"],
            "waves": [wave_progress(wave, committees, current, today) for wave in waves]}


async def set_wave(engine: AsyncEngine, user: Principal, number: int, name: str, starts_on: date,
                   target_pct: float, deadline: date) -> None:
    if "city" not in user.units_for("city_admin"):
        raise Problem(403, "Forbidden", "Only city admins change the rollout plan.")
    if deadline <= starts_on:
        raise invalid([("deadline", "must be after starts_on")])
    async with engine.begin() as db:
        await plan.set_wave(db, number, name, starts_on, target_pct, deadline)
