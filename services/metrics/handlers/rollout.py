"""Reading the rollout: a unit's figures (today's, or as kept on an earlier
day), its child units side by side, a figure's history, the live stream's
first figures, and the gauges for monitoring."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.metrics.adapters import figures, history, plan
from services.metrics.domain.rollout import (
    committee_of,
    highest,
    plan_expected,
    prometheus_text,
    wave_line,
    weighted_expected,
)
from services.metrics.handlers.scope import scoped_unit
from sotay.kit.auth import ROLES, AuthError, Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.http import Problem, invalid
from sotay.kit.scope import covers, forbidden


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


def _named(x: dict[str, Any]) -> dict[str, str]:
    return {"code": x["code"], "name": x["name"], "kind": x["kind"]}


async def place(reader: AsyncEngine, user: Principal, unit: str | None) -> dict[str, Any]:
    """Where a person's dashboard stands: the unit asked for when their roles cover it, else the
    highest unit they are granted on (their `home`: a member's or a cell secretary's cell, a
    committee admin's committee, the city for a city role), with `refused` saying why the one asked
    for is not shown; the units above it they may open, by name (the breadcrumb); and the plan
    there: where the unit and each unit directly under it should be today, and the waves' lines."""
    async with reader.connect() as db:
        mine = await figures.units(db, sorted(set(user.units_for(*ROLES))))
        home = highest(mine)
        if home is None:
            raise forbidden("Your account holds no role on any unit.")
        scope = [u["path"] for u in mine]
        u, refused = home, None
        if unit:
            asked = await figures.unit(db, unit)
            if asked is None:
                refused = "unknown"
            elif not covers(scope, asked["path"]):
                refused = "outside"
            else:
                u = asked
        above = [c for c in u["path"].strip("/").split("/") if c]
        trail = sorted((a for a in await figures.units(db, above) if covers(scope, a["path"])),
                       key=lambda a: a["path"].count("/"))
        below = await figures.children(db, u)
        today = hanoi_day()
        waves = {w["number"]: w for w in await plan.waves(db)}
        committees = await figures.of_kinds(db, ("committee",), "code")
        wave_of_committee = {c["code"]: waves.get(c["wave"]) for c in committees}

        def expected(x: dict[str, Any]) -> float | None:
            wave = wave_of_committee.get(x["code"] if x["kind"] == "committee" else x["committee"])
            return round(plan_expected(wave, today), 2) if wave else None
        if u["kind"] == "city":
            now = await figures.of_units(db, committees, today)
            own = weighted_expected([(expected(c), now[c["code"]]["members_eligible"]) for c in committees])
            lines = [wave_line(w, today) for w in waves.values()]
        else:
            own = expected(u)
            wave = wave_of_committee.get(u["code"] if u["kind"] == "committee" else u["committee"])
            lines = [wave_line(wave, today)] if wave else []
    return {"home": _named(home), "unit": _named(u), "refused": refused, "as_of": today.isoformat(),
            "trail": [_named(a) for a in trail],
            "plan": {"expected_pct_today": own, "waves": lines,
                     "below": {c["code"]: expected(c) for c in below}}}


def token_lapsed(verify: Callable[[str], Principal], token: str) -> str | None:
    """Why a live stream's token no longer holds: "ended" (the account's sessions were ended) or
    "expired"; None while it holds."""
    try:
        verify(token)
    except AuthError as exc:
        return "ended" if "ended" in str(exc) else "expired"
    return None


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
