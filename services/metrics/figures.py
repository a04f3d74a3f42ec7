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


async def of_unit(db: AsyncConnection, u: dict[str, Any], today: date) -> dict[str, Any]:
    """The figures of `u`'s whole subtree. Counters of units the tree does not
    know yet (their OrgUnitCreated still on its way) count at the city only."""
    subtree = {"p": u["path"] + "%"}
    unknown = " OR c.unit NOT IN (SELECT code FROM units)" if u["kind"] == "city" else ""
    sums = (await db.execute(text(
        f"SELECT {_SUMS} FROM unit_counts c WHERE c.unit IN (SELECT code FROM units WHERE path LIKE :p){unknown}"),
        subtree)).mappings().one()
    reasons = {r.reason: int(r.n) for r in await db.execute(text(
        f"SELECT reason, sum(n) AS n FROM unit_ineligible c WHERE (c.unit IN (SELECT code FROM units "
        f"WHERE path LIKE :p){unknown}) GROUP BY reason HAVING sum(n) > 0"), subtree)}
    readers = (await db.execute(text(
        f"SELECT count(*) FILTER (WHERE last_day = :today) AS today, count(*) AS week FROM readers c "
        f"WHERE last_day >= :week AND (c.unit IN (SELECT code FROM units WHERE path LIKE :p){unknown})"),
        subtree | {"today": today, "week": today - timedelta(days=6)})).one()
    return domain.figures(u, {k: int(v) for k, v in sums.items()}, readers_today=readers.today,
                          readers_7d=readers.week, ineligible=reasons, as_of=today)


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
