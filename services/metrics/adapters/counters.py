"""The counters' SQL: deltas appended by the handlers (`counter_deltas`),
folded into the subtree counters (`counters`, see migrations/003_counters.sql)
by one folder at a time, with the counts of units the tree does not know yet
kept in `orphan_counters`. The arithmetic is domain/counters.py's."""

from __future__ import annotations

from datetime import date

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics.adapters import locks
from services.metrics.domain.counters import (
    Folded,
    add_up,
    adopt,
    new_values,
    oldest_reader_day,
)


async def append(db: AsyncConnection, rows: list[tuple[str, str, int]]) -> None:
    """Append (unit, metric, change) rows to counter_deltas."""
    if rows:
        await db.execute(text(
            "INSERT INTO counter_deltas (unit, metric, n) SELECT * FROM unnest(CAST(:u AS text[]), "
            "CAST(:m AS text[]), CAST(:n AS integer[]))"),
            {"u": [r[0] for r in rows], "m": [r[1] for r in rows], "n": [r[2] for r in rows]})


async def fold(db: AsyncConnection, today: date, held: dict[str, dict[str, int]] | None = None) -> Folded:
    """Move every appended delta into `counters`. One folder at a time (the
    transaction-scoped lock makes a second one wait). `held` is the counters as
    the caller knows them to be (the publisher keeps them); without it, the
    counters a fold changes are read first. Reader counts of days before the
    kept window are dropped, as `prune_readers` drops them."""
    await locks.lock_fold(db)
    moves = add_up(await db.execute(text(
        "WITH moved AS (DELETE FROM counter_deltas RETURNING unit, metric, n) "
        "SELECT m.unit, m.metric, sum(m.n)::integer AS n, u.path FROM moved m LEFT JOIN units u ON u.code = m.unit "
        "GROUP BY m.unit, m.metric, u.path")), today)
    out = Folded(touched=moves.touched)
    adopt(moves, await db.execute(text(
        "DELETE FROM orphan_counters o USING units u WHERE o.unit = u.code RETURNING o.metric, o.n, u.path")))
    if moves.orphans:
        keys = sorted(moves.orphans)
        await db.execute(text(
            "INSERT INTO orphan_counters (unit, metric, n) SELECT * FROM unnest(CAST(:u AS text[]), "
            "CAST(:m AS text[]), CAST(:n AS integer[])) ON CONFLICT (unit, metric) "
            "DO UPDATE SET n = orphan_counters.n + EXCLUDED.n"),
            {"u": [k[0] for k in keys], "m": [k[1] for k in keys], "n": [moves.orphans[k] for k in keys]})
    keys = moves.moved()
    if not keys:
        return out
    params = {"u": [k[0] for k in keys], "m": [k[1] for k in keys]}
    if held is None:
        held = {}
        for unit, metric, n in await db.execute(text(
                "SELECT c.unit, c.metric, c.n FROM counters c JOIN unnest(CAST(:u AS text[]), CAST(:m AS text[])) "
                "AS k (unit, metric) ON c.unit = k.unit AND c.metric = k.metric"), params):
            held.setdefault(unit, {})[metric] = n
    out.counts = new_values(moves, held)
    # The new values, not the changes: the CHECK (n >= 0) then judges the sum, and
    # a counter that would go below zero fails the fold and nothing moves.
    await db.execute(text(
        "INSERT INTO counters (unit, metric, n) SELECT * FROM unnest(CAST(:u AS text[]), CAST(:m AS text[]), "
        "CAST(:n AS integer[])) ON CONFLICT (unit, metric) DO UPDATE SET n = EXCLUDED.n"),
        params | {"n": [out.counts[k] for k in keys]})
    return out


async def prune_readers(db: AsyncConnection, today: date) -> None:
    """Drop the reader counts of days no figure looks at any more (once a day)."""
    await db.execute(text("DELETE FROM counters WHERE metric LIKE 'readers:%' AND metric < :oldest"),
                     {"oldest": oldest_reader_day(today)})
    await db.execute(text("DELETE FROM orphan_counters WHERE metric LIKE 'readers:%' AND metric < :oldest"),
                     {"oldest": oldest_reader_day(today)})


async def all_counters(db: AsyncConnection) -> dict[str, dict[str, int]]:
    """Every unit's counters (unit → metric → n)."""
    counts: dict[str, dict[str, int]] = {}
    for unit, metric, n in await db.execute(text("SELECT unit, metric, n FROM counters")):
        counts.setdefault(unit, {})[metric] = n
    return counts
