"""A unit's figures: the sums of its subtree's counters, readers and reasons,
turned into the contract's figures (domain.figures)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics import domain

_SUMS = ", ".join(f"coalesce(sum(c.{name}), 0) AS {name}" for name in domain.COUNTERS)


async def unit(db: AsyncConnection, code: str) -> dict[str, Any] | None:
    row = (await db.execute(text("SELECT code, unit_id, name, kind, path, committee, wave FROM units "
                                 "WHERE code = :c OR unit_id = :c"), {"c": code})).mappings().first()
    return dict(row) if row else None


# The units of each target's subtree, by a range on the path index ('~' sorts after every code character).
_TARGETS = ("WITH t AS (SELECT unnest(CAST(:codes AS text[])) AS code, unnest(CAST(:paths AS text[])) AS path) ")
_SUBTREE = "JOIN units u ON u.path ~>=~ t.path AND u.path ~<~ (t.path || '~') "


async def of_unit(db: AsyncConnection, u: dict[str, Any], today: date) -> dict[str, Any]:
    return (await of_units(db, [u], today))[u["code"]]


async def of_units(db: AsyncConnection, units: list[dict[str, Any]], today: date) -> dict[str, dict[str, Any]]:
    """The figures of each unit's whole subtree, in a few queries for all of them.
    Counters of units the tree does not know yet (their OrgUnitCreated still on
    its way) count at the city only."""
    if not units:
        return {}
    params = {"codes": [u["code"] for u in units], "paths": [u["path"] for u in units]}
    zero = {name: 0 for name in domain.COUNTERS}
    sums = {u["code"]: dict(zero) for u in units}
    for row in (await db.execute(text(
            f"{_TARGETS}SELECT t.code, {_SUMS} FROM t {_SUBTREE}JOIN unit_counts c ON c.unit = u.code "
            f"GROUP BY t.code"), params)).mappings():
        sums[row["code"]] = {name: int(row[name]) for name in domain.COUNTERS}
    reasons: dict[str, dict[str, int]] = {u["code"]: {} for u in units}
    for row in await db.execute(text(
            f"{_TARGETS}SELECT t.code, c.reason, sum(c.n) AS n FROM t {_SUBTREE}"
            f"JOIN unit_ineligible c ON c.unit = u.code GROUP BY t.code, c.reason HAVING sum(c.n) > 0"), params):
        reasons[row.code][row.reason] = int(row.n)
    readers = {u["code"]: (0, 0) for u in units}
    week = {"today": today, "week": today - timedelta(days=6)}
    for row in await db.execute(text(
            f"{_TARGETS}SELECT t.code, count(*) FILTER (WHERE r.last_day = :today) AS today, count(*) AS week "
            f"FROM t {_SUBTREE}JOIN readers r ON r.unit = u.code AND r.last_day >= :week GROUP BY t.code"),
            params | week):
        readers[row.code] = (row.today, row.week)
    for u in units:
        if u["kind"] == "city":
            unknown = (await db.execute(text(
                f"SELECT {_SUMS} FROM unit_counts c WHERE NOT EXISTS (SELECT 1 FROM units WHERE code = c.unit)"
            ))).mappings().one()
            sums[u["code"]] = {k: v + int(unknown[k]) for k, v in sums[u["code"]].items()}
    return {u["code"]: domain.figures(u, sums[u["code"]], readers_today=readers[u["code"]][0],
                                      readers_7d=readers[u["code"]][1], ineligible=reasons[u["code"]], as_of=today)
            for u in units}


async def ancestors_of(db: AsyncConnection, codes: set[str]) -> dict[str, dict[str, Any]]:
    """The units `codes` and every unit above them (the figures a change moves)."""
    paths = list((await db.execute(text("SELECT path FROM units WHERE code = ANY(:c)"), {"c": list(codes)})).scalars())
    above = {"/" + "/".join(p.strip("/").split("/")[:i]) + "/" for p in paths
             for i in range(1, len(p.strip("/").split("/")) + 1)}
    if len(paths) < len(codes):  # some not in the tree yet: the city's figures still change
        above.add("/city/")
    rows = await db.execute(text("SELECT code, unit_id, name, kind, path, committee, wave FROM units "
                                 "WHERE path = ANY(:p)"), {"p": sorted(above)})
    return {r.code: dict(r._mapping) for r in rows}
