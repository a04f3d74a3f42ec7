"""Metrics' schema as a whole, for the rebuild: emptying the projections, and
dropping a scratch schema."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Not `published`: after a replay the publisher compares every unit with what
# went out before and publishes only the figures that differ.
PROJECTION_TABLES = ("units", "members", "registrations", "counters", "counter_deltas", "orphan_counters", "readers")


async def empty_projections(db: AsyncConnection, consumers: list[str]) -> None:
    """Empty the projections, and forget which events the `consumers` applied."""
    await db.execute(text(f"TRUNCATE {', '.join(PROJECTION_TABLES)}"))
    await db.execute(text("DELETE FROM inbox WHERE consumer = ANY(:n)"), {"n": consumers})


async def drop_schema(db: AsyncConnection, schema: str) -> None:
    await db.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
