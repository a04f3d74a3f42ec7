"""A unit's figures: its subtree counters (plus the deltas not folded into
them yet, so a read is exact between folds), turned into the contract's
figures (domain.figures)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics import domain
from services.metrics.projection import CITY, oldest_reader_day

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


def from_counts(u: dict[str, Any], counts: dict[str, int], today: date) -> dict[str, Any]:
    """A unit's figures from its subtree counters (metric → n)."""
    days = _reader_days(today)
    reasons = {m[13:]: n for m, n in counts.items() if n and m.startswith("not_eligible:")}
    return domain.figures(u, counts, readers_today=counts.get(days[0], 0),
                          readers_7d=sum(counts.get(d, 0) for d in days), ineligible=reasons, as_of=today)


@lru_cache(maxsize=4)
def _reader_days(today: date) -> tuple[str, ...]:
    """The reader metrics of the 7 days readers_7d counts, today first."""
    return tuple(f"readers:{(today - timedelta(days=d)).isoformat()}" for d in range(7))
