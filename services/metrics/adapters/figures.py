"""The figures read queries: the units of the org tree, and a unit's figures:
its subtree counters (plus the deltas not folded into them yet, so a read is
exact between folds), turned into the contract's figures (domain/counters.py
from_counts)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics.domain.counters import CITY, from_counts, oldest_reader_day

UNIT_COLUMNS = "code, unit_id, name, kind, path, committee, wave"

# Each unit's counters, the appended deltas not folded yet (added to their unit
# and every unit above it; to the city alone while the unit is unknown), and
# orphans' counts whose unit is known but not yet adopted by a fold.
_COUNTS = text(f"""
SELECT unit, metric, sum(n)::integer AS n FROM (
    SELECT unit, metric, n FROM counters WHERE unit = ANY(:targets) AND n <> 0
    UNION ALL
    SELECT a.code, d.metric, d.n FROM counter_deltas d LEFT JOIN units u ON u.code = d.unit
    CROSS JOIN LATERAL unnest(coalesce(string_to_array(trim(BOTH '/' FROM u.path), '/'), ARRAY['{CITY}'])) AS a (code)
    WHERE a.code = ANY(:targets)
    UNION ALL
    SELECT a.code, o.metric, o.n FROM orphan_counters o JOIN units u ON u.code = o.unit
    CROSS JOIN LATERAL unnest(string_to_array(trim(BOTH '/' FROM u.path), '/')) AS a (code)
    WHERE a.code <> '{CITY}' AND a.code = ANY(:targets)
) c
WHERE metric NOT LIKE 'readers:%' OR metric >= :oldest
GROUP BY unit, metric
""")


async def unit(db: AsyncConnection, code: str) -> dict[str, Any] | None:
    row = (await db.execute(text(f"SELECT {UNIT_COLUMNS} FROM units WHERE code = :c OR unit_id = :c"),
                            {"c": code})).mappings().first()
    return dict(row) if row else None


async def units(db: AsyncConnection, codes: list[str] | None) -> list[dict[str, Any]]:
    """The units `codes` (all of them for None)."""
    rows = await db.execute(text(f"SELECT {UNIT_COLUMNS} FROM units WHERE CAST(:c AS text[]) IS NULL "
                                 f"OR code = ANY(:c)"), {"c": codes})
    return [dict(r) for r in rows.mappings()]


async def children(db: AsyncConnection, u: dict[str, Any]) -> list[dict[str, Any]]:
    """The units directly under `u`, by code."""
    rows = (await db.execute(text(
        f"SELECT {UNIT_COLUMNS} FROM units WHERE path ~ :direct ORDER BY code"),
        {"direct": "^" + u["path"].replace(".", "\\.") + "[^/]+/$"})).mappings().all()
    return [dict(r) for r in rows]


async def of_kinds(db: AsyncConnection, kinds: tuple[str, ...], order: str) -> list[dict[str, Any]]:
    """The units of `kinds` (city, committee, ...) ordered by `order` (code or path)."""
    assert order in ("code", "path")
    rows = await db.execute(text(f"SELECT {UNIT_COLUMNS} FROM units WHERE kind = ANY(:k) ORDER BY {order}"),
                            {"k": list(kinds)})
    return [dict(r) for r in rows.mappings()]


async def all_units(db: AsyncConnection) -> list[dict[str, Any]]:
    """Every unit, in the tree's order."""
    return [dict(r._mapping) for r in await db.execute(text(f"SELECT {UNIT_COLUMNS} FROM units ORDER BY path"))]


async def of_unit(db: AsyncConnection, u: dict[str, Any], today: date) -> dict[str, Any]:
    return (await of_units(db, [u], today))[u["code"]]


async def of_units(db: AsyncConnection, targets: list[dict[str, Any]], today: date) -> dict[str, dict[str, Any]]:
    """The figures of each unit's whole subtree, in one query for all of them."""
    if not targets:
        return {}
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for code, metric, n in await db.execute(_COUNTS, {"targets": [u["code"] for u in targets],
                                                       "oldest": oldest_reader_day(today)}):
        counts[code][metric] = n
    return {u["code"]: from_counts(u, counts.get(u["code"], {}), today) for u in targets}
