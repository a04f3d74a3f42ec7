"""The SQL of feed import: the feeds, their history, and claiming the ones due for a poll."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.db import within_subtrees

FEED_COLUMNS = ("id, url, title, unit, category, audience, publish, interval_s, next_poll_at, last_polled_at, "
                "last_ok_at, last_error, failures, imported, created_by, created_at, publish_approved_by, "
                "publish_approved_at")


async def insert(db: AsyncConnection, row: dict[str, Any]) -> bool:
    """The feed; False when its address is already configured."""
    return (await db.execute(text(
        "INSERT INTO feeds (id, url, unit, category, audience, publish, interval_s, created_by) "
        "VALUES (:id, :url, :unit, :cat, :aud, :pub, :iv, :by) ON CONFLICT (url) DO NOTHING RETURNING id"),
        row)).first() is not None


async def approve_publishing(db: AsyncConnection, feed_id: Any, by: str) -> None:
    await db.execute(text("UPDATE feeds SET publish_approved_by = :by, publish_approved_at = now() WHERE id = :id"),
                     {"by": by, "id": feed_id})


async def record(db: AsyncConnection, feed_id: Any, actor: str, action: str, detail: str | None) -> None:
    await db.execute(text("INSERT INTO feed_history (feed_id, actor, action, detail) VALUES (:f, :a, :x, :d)"),
                     {"f": feed_id, "a": actor, "x": action, "d": detail})


async def history(db: AsyncConnection, feed_id: Any) -> list[dict[str, Any]]:
    rows = await db.execute(text("SELECT actor, action, detail, at FROM feed_history WHERE feed_id = :f ORDER BY id"),
                            {"f": feed_id})
    return [dict(r._mapping) for r in rows]


async def one(db: AsyncConnection, feed_id: Any) -> dict[str, Any] | None:
    row = (await db.execute(text(f"SELECT {FEED_COLUMNS} FROM feeds WHERE id = :id"),
                            {"id": feed_id})).mappings().first()
    return dict(row) if row else None


async def of_units(db: AsyncConnection, paths: list[str]) -> list[dict[str, Any]]:
    """The feeds of the units in the subtrees at `paths`, oldest first."""
    within, params = within_subtrees("u.path", paths)
    rows = await db.execute(text(
        f"SELECT {FEED_COLUMNS} FROM feeds f WHERE EXISTS (SELECT 1 FROM org_units u WHERE u.code = f.unit "
        f"AND {within}) ORDER BY created_at"), params)
    return [dict(r._mapping) for r in rows]


async def make_due(db: AsyncConnection, feed_id: Any) -> None:
    await db.execute(text("UPDATE feeds SET next_poll_at = now() WHERE id = :id"), {"id": feed_id})


async def claim_due(db: AsyncConnection, claim_s: int, limit: int) -> list[dict[str, Any]]:
    """Feeds due for a poll, each held for `claim_s` (replicas never poll one feed at once)."""
    rows = (await db.execute(text(
        "UPDATE feeds SET next_poll_at = now() + make_interval(secs => :claim), last_polled_at = now() "
        "WHERE id IN (SELECT id FROM feeds WHERE next_poll_at <= now() ORDER BY next_poll_at LIMIT :n "
        "FOR UPDATE SKIP LOCKED) RETURNING *"), {"claim": claim_s, "n": limit})).mappings().all()
    return [dict(feed) for feed in rows]


async def polled(db: AsyncConnection, feed_id: Any, etag: str | None, modified: str | None, imported: int) -> None:
    await db.execute(text(
        "UPDATE feeds SET etag = coalesce(:etag, etag), modified = coalesce(:mod, modified), last_ok_at = now(), "
        "last_error = NULL, failures = 0, imported = imported + :n, "
        "next_poll_at = now() + make_interval(secs => interval_s) WHERE id = :id"),
        {"etag": etag, "mod": modified, "n": imported, "id": feed_id})


async def failed(db: AsyncConnection, feed_id: Any, reason: str, failures: int, retry_s: float) -> None:
    await db.execute(text(
        "UPDATE feeds SET last_error = :e, failures = :f, next_poll_at = now() + make_interval(secs => :r) "
        "WHERE id = :id"), {"e": reason, "f": failures, "r": retry_s, "id": feed_id})
