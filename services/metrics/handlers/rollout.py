"""Reading the rollout: a unit's figures (today's, or as kept on an earlier
day), its child units side by side, a figure's history, the live stream's
first figures, and the gauges for monitoring."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.metrics.adapters import figures, history
from services.metrics.domain.rollout import committee_of, prometheus_text
from services.metrics.handlers.scope import scoped_unit
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.http import Problem, invalid


async def figures_of(reader: AsyncEngine, user: Principal, unit: str, as_of: date | None) -> dict[str, Any]:
    """The unit's figures (its whole subtree) today, or as last kept on or before `as_of`."""
    async with reader.connect() as db:
        u = await scoped_unit(db, user, unit)
        today = hanoi_day()
        if as_of is None or as_of == today:
            return await figures.of_unit(db, u, today)
        if as_of > today:
            raise invalid([("as_of", "is in the future")])
        kept = await history.kept_on(db, u["code"], as_of)
    if kept is None:
        raise Problem(404, "No figures", f"No figures were kept for {u['code']} on or before {as_of}.")
    return {**kept, "as_of": as_of.isoformat()}


async def children(reader: AsyncEngine, user: Principal, unit: str) -> dict[str, Any]:
    """The figures of each unit directly under the unit."""
    async with reader.connect() as db:
        u = await scoped_unit(db, user, unit)
        items = list((await figures.of_units(db, await figures.children(db, u), hanoi_day())).values())
    return {"unit": u["code"], "items": items}


async def figure_history(reader: AsyncEngine, user: Principal, unit: str, figure: str, since: date | None,
                         until: date | None) -> dict[str, Any]:
    """A figure of the unit day by day (as last published each day)."""
    async with reader.connect() as db:
        u = await scoped_unit(db, user, unit)
        points = await history.points(db, u["code"], figure, since, until, hanoi_day())
    if points and all(p["value"] is None for p in points):
        raise invalid([("figure", f"{figure} is not a rollout figure")])
    return {"unit": u["code"], "figure": figure, "points": points}


async def live_start(reader: AsyncEngine, user: Principal, unit: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """For a live stream of the unit's figures: the unit, the subject its
    snapshots go out on, and its figures now."""
    async with reader.connect() as db:
        u = await scoped_unit(db, user, unit)
        first = await figures.of_unit(db, u, hanoi_day())
    return u, f"sotay.metrics.rollout.{committee_of(u)}", first


async def prometheus(reader: AsyncEngine) -> str:
    """The rollout gauges of the city and its committees, in Prometheus' text format."""
    async with reader.connect() as db:
        units = await figures.of_kinds(db, ("city", "committee"), "path")
        now = await figures.of_units(db, units, hanoi_day())
    return prometheus_text([(u["code"], now[u["code"]]) for u in units])
