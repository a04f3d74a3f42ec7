"""The SQL of articles: their rows and history, the member's feed, article and read (straight
on asyncpg: what members do daily), read counts and search."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.adapters.replica import READER, reader_params
from sotay.kit.auth import Principal
from sotay.kit.db import Where
from sotay.kit.text import FOLD_PARAMS, folded_sql, like_pattern

SUMMARY_COLUMNS = ("id, title, summary, category, tags, author_unit, audience, status, publish_at, expires_at, "
                   "published_at, source_url")

# Whether article a is in the feed of the reader (the CTE `me` of adapters/replica.py READER).
VISIBLE = ("a.status = 'published' AND (a.expires_at IS NULL OR a.expires_at > now()) "
           "AND a.audience_paths && (SELECT anc FROM me)")


# --- writing and the workflow ---------------------------------------------------------------


async def insert_draft(db: AsyncConnection, fields: dict[str, Any]) -> None:
    await db.execute(text(
        "INSERT INTO articles (id, title, summary, body_html, body_format, body_source, category, tags, attachments, "
        "author, author_unit, author_path, committee, audience, audience_paths, status, search_folded) VALUES "
        "(:id, :title, :summary, :body_html, :body_format, :body_source, :category, :tags, "
        "CAST(:attachments AS uuid[]), :author, :author_unit, :author_path, :committee, :audience, :audience_paths, "
        "'draft', :search_folded)"), fields)


async def update_draft(db: AsyncConnection, article_id: Any, fields: dict[str, Any]) -> None:
    await db.execute(text(
        "UPDATE articles SET title = :title, summary = :summary, body_html = :body_html, body_format = :body_format, "
        "body_source = :body_source, category = :category, tags = :tags, attachments = CAST(:attachments AS uuid[]), "
        "audience = :audience, audience_paths = :audience_paths, search_folded = :search_folded, "
        "version = version + 1, updated_at = now() WHERE id = :id"), {**fields, "id": article_id})


async def insert_imported(db: AsyncConnection, row: dict[str, Any]) -> bool:
    """A feed's entry as a draft; False when this feed already brought it (by guid or link)."""
    return (await db.execute(text(
        "INSERT INTO articles (id, title, summary, body_html, body_format, body_source, category, tags, author, "
        "author_unit, author_path, committee, audience, audience_paths, status, published_at, source_url, "
        "source_feed, source_key, fetched_at, search_folded) VALUES (:id, :title, :summary, :body, 'html', :body, "
        ":cat, :tags, :author, :unit, :path, :committee, :aud, :paths, 'draft', NULL, :url, :feed, :key, :at, "
        ":folded) ON CONFLICT (source_feed, source_key) DO NOTHING RETURNING id"), row)).first() is not None


async def set_status(db: AsyncConnection, article_id: Any, status: str) -> None:
    await db.execute(text("UPDATE articles SET status = :s, version = version + 1, updated_at = now() "
                          "WHERE id = :id"), {"s": status, "id": article_id})


async def schedule(db: AsyncConnection, article_id: Any, publish_at: datetime, expires_at: datetime | None) -> None:
    await db.execute(text("UPDATE articles SET status = 'scheduled', publish_at = :p, expires_at = :e, "
                          "version = version + 1, updated_at = now() WHERE id = :id"),
                     {"p": publish_at, "e": expires_at, "id": article_id})


async def set_expiry(db: AsyncConnection, article_id: Any, expires_at: datetime | None) -> None:
    await db.execute(text("UPDATE articles SET expires_at = :e WHERE id = :id"), {"e": expires_at, "id": article_id})


async def set_published(db: AsyncConnection, article_id: Any, at: datetime) -> None:
    await db.execute(text("UPDATE articles SET status = 'published', published_at = :at, version = version + 1, "
                          "updated_at = now() WHERE id = :id"), {"at": at, "id": article_id})


async def set_retracted(db: AsyncConnection, article_id: Any, status: str) -> None:
    await db.execute(text("UPDATE articles SET status = :s, retracted_at = now(), version = version + 1, "
                          "updated_at = now() WHERE id = :id"), {"s": status, "id": article_id})


async def claim_due(db: AsyncConnection, limit: int) -> list[dict[str, Any]]:
    """Scheduled articles whose time has come, locked; replicas share them (SKIP LOCKED)."""
    rows = (await db.execute(text(
        "SELECT * FROM articles WHERE status = 'scheduled' AND publish_at <= now() ORDER BY publish_at "
        "LIMIT :n FOR UPDATE SKIP LOCKED"), {"n": limit})).mappings().all()
    return [dict(row) for row in rows]


async def record_history(db: AsyncConnection, article_id: Any, actor: str, action: str, from_status: str | None,
                         to_status: str, comment: str | None, who: dict[str, Any] | None = None) -> None:
    """A step of the article's workflow; `who` (name, role, unit) says who took it as a person reads it."""
    who = who or {}
    await db.execute(text(
        "INSERT INTO article_history (article_id, actor, actor_name, actor_role, actor_unit, action, from_status, "
        "to_status, comment) VALUES (:a, :actor, :name, :role, :unit, :action, :f, :t, :c)"),
        {"a": article_id, "actor": actor, "name": who.get("name"), "role": who.get("role"), "unit": who.get("unit"),
         "action": action, "f": from_status, "t": to_status, "c": comment})


# --- reading what the desk and the reviewers see ---------------------------------------------


async def load(db: AsyncConnection, article_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    row = (await db.execute(text("SELECT * FROM articles WHERE id = :id" + (" FOR UPDATE" if lock else "")),
                            {"id": article_id})).mappings().first()
    return dict(row) if row else None


async def feed_creator(db: AsyncConnection, feed_id: Any) -> str | None:
    """Who set up the feed an article came from."""
    return (await db.execute(text("SELECT created_by FROM feeds WHERE id = :id"), {"id": feed_id})).scalar()


async def history(db: AsyncConnection, article_id: Any) -> list[dict[str, Any]]:
    """The article's steps, each with who took it as a person reads it: their name when the
    registry knows them, their role and the name of the unit it is held over."""
    rows = await db.execute(text(
        "SELECT h.actor, h.actor_name, h.actor_role, h.actor_unit, u.name AS actor_unit_name, h.action, "
        "h.from_status, h.to_status, h.comment, h.at FROM article_history h "
        "LEFT JOIN org_units u ON u.code = h.actor_unit WHERE h.article_id = :a ORDER BY h.id"), {"a": article_id})
    return [dict(r._mapping) for r in rows]


async def desk(db: AsyncConnection, paths: list[str], status: str | None, limit: int,
               account: str) -> list[dict[str, Any]]:
    """Articles written in the subtrees at `paths`, newest change first, with the author unit's
    name and whether `account` wrote the article or set up the feed it came from (`yours`)."""
    where = Where().within("author_path", paths).add("status = :status", status=status)
    rows = await db.execute(text(
        f"SELECT {SUMMARY_COLUMNS}, author_path, updated_at, "
        "(SELECT name FROM org_units u WHERE u.code = articles.author_unit) AS author_unit_name, "
        "(author = :me OR source_feed IN (SELECT id FROM feeds WHERE created_by = :me)) AS yours "
        f"FROM articles WHERE {where} ORDER BY updated_at DESC LIMIT :n"),
        where.params | {"n": limit, "me": account})
    return [dict(r._mapping) for r in rows]


async def units(db: AsyncConnection, paths: list[str], words: list[str], limit: int) -> list[dict[str, Any]]:
    """The open units in the subtrees at `paths` whose name, code or the name of the unit above
    holds every one of `words` (folded: accents optional), top down, each with that unit's name."""
    where = Where().within("u.path", paths).add("NOT u.closed")
    for i, word in enumerate(words):
        where.add(f"({folded_sql('u.name')} LIKE :w{i} OR u.code LIKE :w{i} OR {folded_sql('p.name')} LIKE :w{i})",
                  **{f"w{i}": like_pattern(word)}, **FOLD_PARAMS)
    rows = await db.execute(text(
        "SELECT u.code, u.name, u.kind, p.name AS parent_name FROM org_units u "
        "LEFT JOIN org_units p ON p.path = regexp_replace(u.path, '[^/]+/$', '') "
        f"WHERE {where} ORDER BY length(u.path) - length(replace(u.path, '/', '')), u.name LIMIT :n"),
        where.params | {"n": limit})
    return [dict(r._mapping) for r in rows]


# --- the member's side -------------------------------------------------------------------------------


# READER in asyncpg's $n style: $1 the card, $2 the units (reader_params).
READER_DRIVER = READER.replace(":card", "$1").replace(":units", "$2::text[]")
# The member's hot path, on asyncpg's own connection ($3 the article): the article with whether it
# is in the reader's feed, whether it is, and the read of the day.
ARTICLE_SQL = f"WITH me AS ({READER_DRIVER}) SELECT a.*, ({VISIBLE}) AS in_feed FROM articles a WHERE a.id = $3"
IN_FEED_SQL = f"WITH me AS ({READER_DRIVER}) SELECT a.id FROM articles a WHERE a.id = $3 AND {VISIBLE}"
INSERT_READ_SQL = ("INSERT INTO reads (account_id, article_id, day, member_id, unit) VALUES ($1, $2, $3, $4, $5) "
                   "ON CONFLICT DO NOTHING RETURNING 1")


def feed_sql(*, after: bool, category: bool, unread_only: bool) -> str:
    """The feed's one query, in asyncpg's $n style: $1 card, $2 units, $3 account,
    $4 limit, then the category, then the cursor's time and id when asked for."""
    reader = READER_DRIVER
    clauses = [VISIBLE]
    unread = "NOT EXISTS (SELECT 1 FROM reads r WHERE r.account_id = $3 AND r.article_id = a.id)"
    n = 5
    if category:
        clauses.append(f"a.category = ${n}")
        n += 1
    if after:
        clauses.append(f"(a.published_at, a.id) < (${n}::timestamptz, ${n + 1}::uuid)")
    if unread_only:
        clauses.append(unread)
    # The columns are the API's fields, so rows go out as they come (ids as text for JSON).
    return (f"WITH me AS ({reader}) SELECT CAST(a.id AS text) AS id, a.title, a.summary, a.category, a.tags, "
            f"a.author_unit, a.published_at, a.expires_at, a.source_url, {unread} AS unread FROM articles a "
            f"WHERE {' AND '.join(clauses)} ORDER BY a.published_at DESC, a.id DESC LIMIT $4")


async def feed(db: AsyncConnection, actor: Principal, *, after: tuple[datetime, str] | None, limit: int,
               category: str | None = None, unread_only: bool = False) -> list[dict[str, Any]]:
    """Published, unexpired articles whose audience holds the reader's unit,
    newest first, each with whether this reader has opened it. One query.

    The members' most frequent request, so it goes to asyncpg directly on the
    pool's connection (a third of the time SQLAlchemy's layers took)."""
    reader = reader_params(actor)
    args: list[Any] = [reader["card"], reader["units"], reader["account"], limit]
    if category:
        args.append(category)
    if after:
        args += [after[0], after[1]]
    sql = feed_sql(after=after is not None, category=category is not None, unread_only=unread_only)
    raw = (await db.get_raw_connection()).driver_connection
    return [dict(r) for r in await raw.fetch(sql, *args)]


async def with_visibility(db: AsyncConnection, actor: Principal, article_id: Any) -> dict[str, Any] | None:
    """The article, with `in_feed`: whether it is in the caller's feed. One statement, on
    asyncpg's own connection (as the feed: what members open daily)."""
    reader = reader_params(actor)
    raw = (await db.get_raw_connection()).driver_connection
    row = await raw.fetchrow(ARTICLE_SQL, reader["card"], reader["units"], article_id)
    return dict(row) if row else None


async def in_feed(conn: asyncpg.Connection, actor: Principal, article_id: Any) -> bool:
    reader = reader_params(actor)
    return await conn.fetchval(IN_FEED_SQL, reader["card"], reader["units"], article_id) is not None


async def insert_read(conn: asyncpg.Connection, account: str, article_id: Any, day: date, member_id: Any,
                      unit: str | None) -> bool:
    """The read of the day; False when this account already read the article that day."""
    return await conn.fetchval(INSERT_READ_SQL, account, article_id, day, member_id, unit) is not None


async def read_stats(db: AsyncConnection, article_id: Any, today: date) -> dict[str, Any]:
    row = (await db.execute(text(
        "SELECT count(*) AS reads, count(DISTINCT account_id) AS readers, "
        "count(*) FILTER (WHERE day = :today) AS reads_today FROM reads WHERE article_id = :a"),
        {"a": article_id, "today": today})).one()
    return dict(row._mapping)


async def search(db: AsyncConnection, actor: Principal, like: dict[str, str], limit: int) -> list[dict[str, Any]]:
    """Articles in the caller's feed whose folded text matches every pattern of `like`."""
    rows = await db.execute(text(
        f"WITH me AS ({READER}) SELECT a.id, a.title, a.summary, a.category, a.published_at FROM articles a "
        f"WHERE {VISIBLE} AND " + " AND ".join(f"a.search_folded LIKE :{k}" for k in like)
        + " ORDER BY a.published_at DESC LIMIT :limit"), reader_params(actor) | like | {"limit": limit})
    return [dict(r._mapping) for r in rows]
