"""Use cases of articles: writing, the editorial workflow (draft → submitted
→ approved → published → retracted), scheduled publishing, the member's
feed, reading and search. Every change writes its event to the outbox in the
same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import domain
from services.content.handlers import library
from services.content.domain import RuleBroken
from sotay.contracts.content import (
    ArticleApproved, ArticlePublished, ArticleRead, ArticleRetracted, ArticleReturned, ArticleSubmitted,
)
from services.content.handlers.replica import reader_of
from services.content.domain.text import contains, fold, plain_text, sanitise_body, search_terms, summary_from
from sotay.kit.auth import Principal
from sotay.kit.events import CITY, Event, make_message, uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import add_events

SCHEMA = "content"
SUMMARY_COLUMNS = ("id, title, summary, category, tags, author_unit, audience, status, publish_at, expires_at, "
                   "published_at, source_url")


async def emit(db: AsyncConnection, event: Event, *, aggregate_id: Any, committee: str, unit: str | None,
               sequence: int | None = None) -> None:
    await add_events(db, SCHEMA, [make_message(event, aggregate_id=str(aggregate_id), committee=committee or CITY,
                                               orgunit=unit, sequence=sequence)])


def refused(rule: RuleBroken) -> Problem:
    if rule.status == 403:
        return Problem(403, "Forbidden", rule.detail)
    if rule.field:
        return invalid([(rule.field, rule.detail)])
    return Problem(rule.status, "Not allowed now", rule.detail)


# --- the org tree as content knows it ---------------------------------------------------


async def unit_paths(db: AsyncConnection, codes: list[str]) -> dict[str, str | None]:
    rows = await db.execute(text("SELECT code, path FROM org_units WHERE code = ANY(:c)"), {"c": list(codes)})
    found = {r.code: r.path for r in rows}
    return {code: found.get(code) for code in codes}


async def scope_paths(db: AsyncConnection, actor: Principal, roles: tuple[str, ...]) -> list[str]:
    codes = actor.units_for(*roles)
    return [p for p in (await unit_paths(db, codes)).values() if p] if codes else []


# --- writing ------------------------------------------------------------------------------


@dataclass
class Draft:
    title: str
    summary: str | None
    body: str
    body_format: str
    category: str
    tags: list[str]
    audience: list[str]
    attachments: list[str]
    unit: str | None  # the author unit; by default the caller's first editor unit


async def _checked_fields(db: AsyncConnection, actor: Principal, draft: Draft, author_path: str) -> dict[str, Any]:
    """Sanitise the body and check the audience; all problems at once."""
    body_html = sanitise_body(draft.body, draft.body_format)
    problems: list[tuple[str, str]] = []
    if not plain_text(body_html) and "<img" not in body_html:
        problems.append(("body", "is empty once unsafe markup is removed"))
    audience = list(dict.fromkeys(draft.audience))
    paths = await unit_paths(db, audience)
    problems += domain.check_audience(author_path, paths)
    problems += await library.not_in_library(db, actor, "attachments", draft.attachments)
    if problems:
        raise invalid(problems)
    summary = (draft.summary or "").strip() or summary_from(body_html)
    return {"title": draft.title.strip(), "summary": summary, "body_html": body_html,
            "body_format": draft.body_format, "body_source": draft.body, "category": draft.category,
            "tags": sorted({t.strip() for t in draft.tags if t.strip()}), "audience": audience,
            "audience_paths": sorted({p for p in paths.values() if p}),
            "attachments": list(dict.fromkeys(draft.attachments)),
            "search_folded": fold(f"{draft.title} {summary} {plain_text(body_html)}")}


async def create(db: AsyncConnection, actor: Principal, draft: Draft) -> dict[str, Any]:
    article_id = uuid7()
    editor_units = actor.units_for(*domain.EDITORS)
    unit = draft.unit or (editor_units[0] if editor_units else None)
    if unit is None:
        raise Problem(403, "Forbidden", "Writing articles needs an editor role.")
    author_path = (await unit_paths(db, [unit]))[unit]
    if author_path is None:
        raise invalid([("unit", f"{unit} is not a unit")])
    if not domain.covers(await scope_paths(db, actor, domain.EDITORS), author_path):
        raise Problem(403, "Forbidden", "You are not an editor of this unit.")
    fields = await _checked_fields(db, actor, draft, author_path)
    await db.execute(text(
        "INSERT INTO articles (id, title, summary, body_html, body_format, body_source, category, tags, attachments, "
        "author, author_unit, author_path, committee, audience, audience_paths, status, search_folded) VALUES "
        "(:id, :title, :summary, :body_html, :body_format, :body_source, :category, :tags, "
        "CAST(:attachments AS uuid[]), :author, :author_unit, :author_path, :committee, :audience, :audience_paths, "
        "'draft', :search_folded)"),
        {**fields, "id": article_id, "author": actor.subject, "author_unit": unit, "author_path": author_path,
         "committee": domain.committee_of(author_path)})
    await record_history(db, article_id, actor.subject, "create", None, "draft", None)
    return await load(db, article_id)


async def edit(db: AsyncConnection, actor: Principal, article_id: Any, draft: Draft) -> dict[str, Any]:
    article = await _for_desk(db, actor, article_id, lock=True)
    _step(article, "edit")
    fields = await _checked_fields(db, actor, draft, article["author_path"])
    await db.execute(text(
        "UPDATE articles SET title = :title, summary = :summary, body_html = :body_html, body_format = :body_format, "
        "body_source = :body_source, category = :category, tags = :tags, attachments = CAST(:attachments AS uuid[]), "
        "audience = :audience, audience_paths = :audience_paths, search_folded = :search_folded, "
        "version = version + 1, updated_at = now() WHERE id = :id"), {**fields, "id": article_id})
    await record_history(db, article_id, actor.subject, "edit", "draft", "draft", None)
    return await load(db, article_id)


# --- the workflow -------------------------------------------------------------------------------


def _step(article: dict[str, Any], action: str) -> str:
    try:
        return domain.next_status(action, article["status"])
    except RuleBroken as rule:
        raise refused(rule)


async def submit(db: AsyncConnection, actor: Principal, article_id: Any) -> dict[str, Any]:
    article = await _for_desk(db, actor, article_id, lock=True)
    to = _step(article, "submit")
    await _move(db, article, actor, "submit", to, None)
    await _announce(db, article, ArticleSubmitted, submitted_by=actor.subject)
    return await load(db, article_id)


async def send_back(db: AsyncConnection, actor: Principal, article_id: Any, comment: str | None) -> dict[str, Any]:
    if not comment or not comment.strip():
        raise invalid([("comment", "is required: the author needs to know what to change")])
    article = await _for_review(db, actor, article_id, approving=False)
    to = _step(article, "return")
    await _move(db, article, actor, "return", to, comment.strip())
    await _announce(db, article, ArticleReturned, returned_by=actor.subject, comment=comment.strip())
    return await load(db, article_id)


async def approve(db: AsyncConnection, actor: Principal, article_id: Any, comment: str | None) -> dict[str, Any]:
    article = await _for_review(db, actor, article_id, approving=True)
    to = _step(article, "approve")
    await _move(db, article, actor, "approve", to, comment)
    await _announce(db, article, ArticleApproved, approved_by=actor.subject)
    return await load(db, article_id)


async def publish(db: AsyncConnection, actor: Principal, article_id: Any, publish_at: datetime | None,
                  expires_at: datetime | None) -> dict[str, Any]:
    article = await _for_review(db, actor, article_id, approving=False)
    _step(article, "publish")
    problems = domain.check_schedule(publish_at, expires_at)
    # The audience is checked again: units may have moved since the draft was written.
    problems += domain.check_audience(article["author_path"], await unit_paths(db, article["audience"]))
    if problems:
        raise invalid(problems)
    now = datetime.now(UTC)
    if publish_at is not None and publish_at > now:
        await db.execute(text("UPDATE articles SET status = 'scheduled', publish_at = :p, expires_at = :e, "
                              "version = version + 1, updated_at = now() WHERE id = :id"),
                         {"p": publish_at, "e": expires_at, "id": article_id})
        await record_history(db, article_id, actor.subject, "schedule", article["status"], "scheduled",
                       f"publish at {publish_at.isoformat()}")
        return await load(db, article_id)
    await db.execute(text("UPDATE articles SET expires_at = :e WHERE id = :id"), {"e": expires_at, "id": article_id})
    await go_live(db, {**article, "expires_at": expires_at}, actor.subject, now)
    return await load(db, article_id)


async def go_live(db: AsyncConnection, article: dict[str, Any], actor: str, at: datetime) -> None:
    await db.execute(text("UPDATE articles SET status = 'published', published_at = :at, version = version + 1, "
                          "updated_at = now() WHERE id = :id"), {"at": at, "id": article["id"]})
    await record_history(db, article["id"], actor, "publish", article["status"], "published", None)
    await _announce(db, article, ArticlePublished, published_at=at, expires_at=article["expires_at"],
                    source_url=article.get("source_url"))


async def publish_due(db: AsyncConnection, limit: int = 100) -> int:
    """Publish scheduled articles whose time has come. Replicas share the work
    (SKIP LOCKED); each article goes live once."""
    rows = (await db.execute(text(
        "SELECT * FROM articles WHERE status = 'scheduled' AND publish_at <= now() ORDER BY publish_at "
        "LIMIT :n FOR UPDATE SKIP LOCKED"), {"n": limit})).mappings().all()
    for row in rows:
        await go_live(db, dict(row), "scheduler", row["publish_at"])
    return len(rows)


async def retract(db: AsyncConnection, actor: Principal, article_id: Any, reason: str | None) -> dict[str, Any]:
    if not reason or not reason.strip():
        raise invalid([("reason", "is required")])
    article = await _for_review(db, actor, article_id, approving=False)
    to = _step(article, "retract")
    await db.execute(text("UPDATE articles SET status = :s, retracted_at = now(), version = version + 1, "
                          "updated_at = now() WHERE id = :id"), {"s": to, "id": article_id})
    await record_history(db, article_id, actor.subject, "retract", article["status"], to, reason.strip())
    await _announce(db, article, ArticleRetracted, retracted_by=actor.subject, reason=reason.strip())
    return await load(db, article_id)


async def _move(db: AsyncConnection, article: dict[str, Any], actor: Principal, action: str, to: str,
                comment: str | None) -> None:
    await db.execute(text("UPDATE articles SET status = :s, version = version + 1, updated_at = now() "
                          "WHERE id = :id"), {"s": to, "id": article["id"]})
    await record_history(db, article["id"], actor.subject, action, article["status"], to, comment)


async def record_history(db: AsyncConnection, article_id: Any, actor: str, action: str, from_status: str | None,
                   to_status: str, comment: str | None) -> None:
    await db.execute(text(
        "INSERT INTO article_history (article_id, actor, action, from_status, to_status, comment) "
        "VALUES (:a, :actor, :action, :f, :t, :c)"),
        {"a": article_id, "actor": actor, "action": action, "f": from_status, "t": to_status, "c": comment})


async def _announce(db: AsyncConnection, article: dict[str, Any], event_type: type[Event], **fields: Any) -> None:
    """A workflow event about `article` (as it was before this step), on its author unit's committee;
    its sequence is the version the step gives the article."""
    await emit(db, event_type(article_id=str(article["id"]), title=article["title"], category=article["category"],
                              author_unit=article["author_unit"], audience=list(article["audience"]), **fields),
               aggregate_id=article["id"], committee=article["committee"], unit=article["author_unit"],
               sequence=article["version"] + 1)


# --- reading what the desk and the reviewers see ---------------------------------------------


async def load(db: AsyncConnection, article_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    row = (await db.execute(text("SELECT * FROM articles WHERE id = :id" + (" FOR UPDATE" if lock else "")),
                            {"id": article_id})).mappings().first()
    return dict(row) if row else None


def _not_found() -> Problem:
    return Problem(404, "Not found", "No such article, or not one you can see.")


async def _for_desk(db: AsyncConnection, actor: Principal, article_id: Any, *, lock: bool = False) -> dict[str, Any]:
    """An article for its editors: those of the author's unit or above. To
    anyone else a draft does not exist."""
    article = await load(db, article_id, lock=lock)
    if article is None or not domain.covers(await scope_paths(db, actor, domain.EDITORS), article["author_path"]):
        raise _not_found()
    return article


async def _for_review(db: AsyncConnection, actor: Principal, article_id: Any, *, approving: bool) -> dict[str, Any]:
    article = await _for_desk(db, actor, article_id, lock=True)
    feed_creator = None
    if approving and article["source_feed"] is not None:
        feed_creator = (await db.execute(text("SELECT created_by FROM feeds WHERE id = :id"),
                                         {"id": article["source_feed"]})).scalar()
    try:
        domain.may_review(actor, await scope_paths(db, actor, domain.CHIEF), article, approving=approving,
                          feed_creator=feed_creator)
    except RuleBroken as rule:
        raise refused(rule)
    return article


async def history(db: AsyncConnection, actor: Principal, article_id: Any) -> list[dict[str, Any]]:
    await _for_desk(db, actor, article_id)
    rows = await db.execute(text("SELECT actor, action, from_status, to_status, comment, at FROM article_history "
                                 "WHERE article_id = :a ORDER BY id"), {"a": article_id})
    return [dict(r._mapping) for r in rows]


async def desk(db: AsyncConnection, actor: Principal, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The editor's desk: articles of the units the caller edits, newest change first."""
    paths = await scope_paths(db, actor, domain.EDITORS)
    if not paths:
        raise Problem(403, "Forbidden", "The desk is for editors.")
    rows = await db.execute(text(
        f"SELECT {SUMMARY_COLUMNS}, updated_at FROM articles WHERE author_path LIKE ANY(:paths) "
        "AND (CAST(:status AS text) IS NULL OR status = :status) ORDER BY updated_at DESC LIMIT :n"),
        {"paths": [p + "%" for p in paths], "status": status, "n": limit})
    return [dict(r._mapping) for r in rows]


# --- the member's side -------------------------------------------------------------------------------

# Where the reader sits: the registry replica by card number (it follows a
# transfer at once); a token without a card (staff) reads as its units.
READER = """
    SELECT coalesce(
        (SELECT ancestors FROM readers WHERE party_card_no = :card),
        (SELECT array_agg(DISTINCT a) FROM org_units, unnest(ancestors) a WHERE code = ANY(:units))
    ) AS anc
"""

_VISIBLE = ("a.status = 'published' AND (a.expires_at IS NULL OR a.expires_at > now()) "
            "AND a.audience_paths && (SELECT anc FROM me)")


def reader_params(actor: Principal) -> dict[str, Any]:
    units = [actor.unit] if actor.unit else [g.unit for g in actor.grants]
    return {"card": actor.member_card_no, "units": units, "account": actor.subject}


def feed_sql(*, after: bool, category: bool, unread_only: bool) -> str:
    """The feed's one query, in asyncpg's $n style: $1 card, $2 units, $3 account,
    $4 limit, then the category, then the cursor's time and id when asked for."""
    reader = READER.replace(":card", "$1").replace(":units", "$2::text[]")
    clauses = [_VISIBLE]
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


async def readable(db: AsyncConnection, actor: Principal, article_id: Any) -> dict[str, Any]:
    """The article if the caller may read it: in their feed, or on their desk."""
    row = (await db.execute(text(
        f"WITH me AS ({READER}) SELECT a.*, ({_VISIBLE}) AS in_feed FROM articles a WHERE a.id = :id"),
        reader_params(actor) | {"id": article_id})).mappings().first()
    if row is None:
        raise _not_found()
    if row["in_feed"]:
        return dict(row)
    return await _for_desk(db, actor, article_id)


async def record_read(db: AsyncConnection, actor: Principal, article_id: Any) -> dict[str, Any]:
    """A member opened the article: one read per member, article and day.
    Only the first of the day emits ArticleRead."""
    row = (await db.execute(text(
        f"WITH me AS ({READER}) SELECT a.id FROM articles a WHERE a.id = :id AND {_VISIBLE}"),
        reader_params(actor) | {"id": article_id})).first()
    if row is None:
        raise _not_found()
    reader = await reader_of(db, actor)
    day, unit = domain.reading_day(), reader["unit"]
    first = (await db.execute(text(
        "INSERT INTO reads (account_id, article_id, day, member_id, unit) VALUES (:a, :id, :d, :m, :u) "
        "ON CONFLICT DO NOTHING RETURNING 1"),
        {"a": actor.subject, "id": article_id, "d": day, "m": reader["member_id"], "u": unit},
    )).first() is not None
    if first:
        await emit(db, ArticleRead(article_id=str(article_id), account_id=actor.subject,
                                   member_id=str(reader["member_id"]) if reader["member_id"] else None, unit=unit,
                                   day=day),
                   aggregate_id=article_id, committee=reader["committee"], unit=unit)
    return {"article_id": str(article_id), "day": day.isoformat(), "counted": first}


async def read_stats(db: AsyncConnection, actor: Principal, article_id: Any) -> dict[str, Any]:
    await _for_desk(db, actor, article_id)
    row = (await db.execute(text(
        "SELECT count(*) AS reads, count(DISTINCT account_id) AS readers, "
        "count(*) FILTER (WHERE day = :today) AS reads_today FROM reads WHERE article_id = :a"),
        {"a": article_id, "today": domain.reading_day()})).one()
    return {"article_id": str(article_id), **row._mapping}


async def search(db: AsyncConnection, actor: Principal, q: str, limit: int) -> list[dict[str, Any]]:
    """Articles the caller may read whose title, summary or body hold every
    term of `q`, accents ignored ('nghi quyet' finds 'Nghị quyết')."""
    terms = search_terms(q)
    if not terms:
        raise invalid([("q", "needs at least one word")])
    like = {f"t{i}": contains(t) for i, t in enumerate(terms)}
    rows = await db.execute(text(
        f"WITH me AS ({READER}) SELECT a.id, a.title, a.summary, a.category, a.published_at FROM articles a "
        f"WHERE {_VISIBLE} AND " + " AND ".join(f"a.search_folded LIKE :{k}" for k in like)
        + " ORDER BY a.published_at DESC LIMIT :limit"), reader_params(actor) | like | {"limit": limit})
    return [dict(r._mapping) for r in rows]


SUMMARY_KEYS = ("id", "title", "summary", "category", "tags", "author_unit", "audience", "status", "publish_at",
                "expires_at", "published_at", "source_url", "unread")
FULL_KEYS = SUMMARY_KEYS + ("body_html", "body_format", "attachments", "fetched_at", "version", "created_at",
                            "updated_at")


def article_json(a: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """The fields of an article the API shows (json_response serialises times and ids)."""
    return {k: a[k] for k in (FULL_KEYS if full else SUMMARY_KEYS) if k in a}
