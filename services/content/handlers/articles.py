"""Use cases of articles: writing, the editorial workflow (draft → submitted
→ approved → published → retracted), scheduled publishing, the member's
feed, reading and search. Every change writes its event to the outbox in the
same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content import domain
from services.content.adapters import articles as store
from services.content.adapters import library as documents
from services.content.adapters.replica import ORG, reader_of, unit_paths
from services.content.domain import RuleBroken
from services.content.domain.text import contains, fold, plain_text, sanitise_body, search_terms, summary_from
from sotay.contracts.content import (
    ArticleApproved, ArticlePublished, ArticleRead, ArticleRetracted, ArticleReturned, ArticleSubmitted,
)
from sotay.kit.auth import Principal
from sotay.kit.events import Event, uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import covers

SCHEMA = "content"


def refused(rule: RuleBroken) -> Problem:
    if rule.status == 403:
        return Problem(403, "Forbidden", rule.detail, code=rule.code)
    if rule.field:
        return invalid([(rule.field, rule.detail)])
    return Problem(rule.status, "Not allowed now", rule.detail, code=rule.code)


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
    problems += await documents.not_in_library(db, actor, "attachments", draft.attachments)
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
    await ORG.require(db, actor, author_path, domain.EDITORS, "You are not an editor of this unit.")
    fields = await _checked_fields(db, actor, draft, author_path)
    await store.insert_draft(db, {**fields, "id": article_id, "author": actor.subject, "author_unit": unit,
                                  "author_path": author_path, "committee": domain.committee_of(author_path)})
    await store.record_history(db, article_id, actor.subject, "create", None, "draft", None,
                               await _who(db, actor, author_path, domain.EDITORS))
    return await store.load(db, article_id)


async def edit(db: AsyncConnection, actor: Principal, article_id: Any, draft: Draft) -> dict[str, Any]:
    article = await _for_desk(db, actor, article_id, lock=True)
    _step(article, "edit")
    fields = await _checked_fields(db, actor, draft, article["author_path"])
    await store.update_draft(db, article_id, fields)
    await store.record_history(db, article_id, actor.subject, "edit", "draft", "draft", None,
                               await _who(db, actor, article["author_path"], domain.EDITORS))
    return await store.load(db, article_id)


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
    return await store.load(db, article_id)


async def send_back(db: AsyncConnection, actor: Principal, article_id: Any, comment: str | None) -> dict[str, Any]:
    if not comment or not comment.strip():
        raise invalid([("comment", "is required: the author needs to know what to change")])
    article = await _for_review(db, actor, article_id, approving=False)
    to = _step(article, "return")
    await _move(db, article, actor, "return", to, comment.strip())
    await _announce(db, article, ArticleReturned, returned_by=actor.subject, comment=comment.strip())
    return await store.load(db, article_id)


async def approve(db: AsyncConnection, actor: Principal, article_id: Any, comment: str | None) -> dict[str, Any]:
    article = await _for_review(db, actor, article_id, approving=True)
    to = _step(article, "approve")
    await _move(db, article, actor, "approve", to, comment)
    await _announce(db, article, ArticleApproved, approved_by=actor.subject)
    return await store.load(db, article_id)


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
        await store.schedule(db, article_id, publish_at, expires_at)
        await store.record_history(db, article_id, actor.subject, "schedule", article["status"], "scheduled",
                                   f"publish at {publish_at.isoformat()}",
                                   await _who(db, actor, article["author_path"], domain.CHIEF))
        return await store.load(db, article_id)
    await store.set_expiry(db, article_id, expires_at)
    await go_live(db, {**article, "expires_at": expires_at}, actor.subject, now,
                  await _who(db, actor, article["author_path"], domain.CHIEF))
    return await store.load(db, article_id)


async def go_live(db: AsyncConnection, article: dict[str, Any], actor: str, at: datetime,
                  who: dict[str, Any] | None = None) -> None:
    await store.set_published(db, article["id"], at)
    await store.record_history(db, article["id"], actor, "publish", article["status"], "published", None, who)
    await _announce(db, article, ArticlePublished, published_at=at, expires_at=article["expires_at"],
                    source_url=article.get("source_url"))


async def publish_due(db: AsyncConnection, limit: int = 100) -> int:
    """Publish scheduled articles whose time has come. Replicas share the work
    (SKIP LOCKED); each article goes live once."""
    due = await store.claim_due(db, limit)
    for row in due:
        await go_live(db, row, "scheduler", row["publish_at"])
    return len(due)


async def retract(db: AsyncConnection, actor: Principal, article_id: Any, reason: str | None) -> dict[str, Any]:
    if not reason or not reason.strip():
        raise invalid([("reason", "is required")])
    article = await _for_review(db, actor, article_id, approving=False)
    to = _step(article, "retract")
    await store.set_retracted(db, article_id, to)
    await store.record_history(db, article_id, actor.subject, "retract", article["status"], to, reason.strip(),
                               await _who(db, actor, article["author_path"], domain.CHIEF))
    await _announce(db, article, ArticleRetracted, retracted_by=actor.subject, reason=reason.strip())
    return await store.load(db, article_id)


async def _move(db: AsyncConnection, article: dict[str, Any], actor: Principal, action: str, to: str,
                comment: str | None) -> None:
    await store.set_status(db, article["id"], to)
    roles = domain.EDITORS if action == "submit" else domain.CHIEF
    await store.record_history(db, article["id"], actor.subject, action, article["status"], to, comment,
                               await _who(db, actor, article["author_path"], roles))


async def _who(db: AsyncConnection, actor: Principal, author_path: str, roles: tuple[str, ...]) -> dict[str, Any]:
    """Who takes a step, as the history shows them: their name when the registry knows their card
    (the readers replica), and the role among `roles` they act in over the article's unit (the
    nearest grant that covers it, a chief editor's first) with that unit's code."""
    reader = await reader_of(db, actor)
    grants = [g for g in actor.grants if g.role in roles]
    paths = await ORG.paths_of(db, [g.unit for g in grants])
    covering = [g for g in grants if paths.get(g.unit) and author_path.startswith(paths[g.unit])]
    pick = max(covering, key=lambda g: (g.role in domain.CHIEF, len(paths[g.unit])), default=None)
    return {"name": reader["full_name"], "role": pick.role if pick else None, "unit": pick.unit if pick else None}


async def _announce(db: AsyncConnection, article: dict[str, Any], event_type: type[Event], **fields: Any) -> None:
    """A workflow event about `article` (as it was before this step), on its author unit's committee;
    its sequence is the version the step gives the article."""
    await emit(db, SCHEMA, event_type(article_id=str(article["id"]), title=article["title"],
                                      category=article["category"], author_unit=article["author_unit"],
                                      audience=list(article["audience"]), **fields),
               aggregate_id=article["id"], committee=article["committee"], unit=article["author_unit"],
               sequence=article["version"] + 1)


# --- reading what the desk and the reviewers see ---------------------------------------------


def _not_found() -> Problem:
    return Problem(404, "Not found", "No such article, or not one you can see.")


async def _for_desk(db: AsyncConnection, actor: Principal, article_id: Any, *, lock: bool = False) -> dict[str, Any]:
    """An article for its editors: those of the author's unit or above. To
    anyone else a draft does not exist."""
    article = await store.load(db, article_id, lock=lock)
    if article is None or not covers(await ORG.scope_paths(db, actor, domain.EDITORS), article["author_path"]):
        raise _not_found()
    return article


async def _for_review(db: AsyncConnection, actor: Principal, article_id: Any, *, approving: bool) -> dict[str, Any]:
    article = await _for_desk(db, actor, article_id, lock=True)
    feed_creator = None
    if approving and article["source_feed"] is not None:
        feed_creator = await store.feed_creator(db, article["source_feed"])
    try:
        domain.may_review(actor, await ORG.scope_paths(db, actor, domain.CHIEF), article, approving=approving,
                          feed_creator=feed_creator)
    except RuleBroken as rule:
        raise refused(rule)
    return article


async def history(db: AsyncConnection, actor: Principal, article_id: Any) -> list[dict[str, Any]]:
    await _for_desk(db, actor, article_id)
    return await store.history(db, article_id)


async def desk(db: AsyncConnection, actor: Principal, status: str | None, limit: int) -> list[dict[str, Any]]:
    """The editor's desk: articles of the units the caller edits, newest change first."""
    paths = await ORG.scoped(db, actor, domain.EDITORS, "The desk is for editors.")
    chief = await ORG.scope_paths(db, actor, domain.CHIEF)
    rows = await store.desk(db, paths, status, limit, actor.subject)
    # What the caller may do with each: review it (a chief editor of its unit or above), and not
    # approve what they wrote or whose feed they set up (two people publish: domain.may_review).
    return [{**r, "may_review": covers(chief, r["author_path"])} for r in rows]


async def units(db: AsyncConnection, actor: Principal, q: str | None, limit: int) -> list[dict[str, Any]]:
    """Units an editor may address (audience, author unit, a feed's unit): the open units where they
    edit, those whose name (accents optional) or code holds every word of `q`, top down."""
    paths = await ORG.scoped(db, actor, domain.EDITORS, "Choosing units is for editors.")
    return await store.units(db, paths, search_terms(q or ""), limit)


# --- the member's side -------------------------------------------------------------------------------


async def feed(db: AsyncConnection, actor: Principal, *, after: tuple[datetime, str] | None, limit: int,
               category: str | None = None, unread_only: bool = False) -> list[dict[str, Any]]:
    """Published, unexpired articles whose audience holds the reader's unit,
    newest first, each with whether this reader has opened it (adapters/articles.py: one query)."""
    return await store.feed(db, actor, after=after, limit=limit, category=category, unread_only=unread_only)


async def readable(db: AsyncConnection, actor: Principal, article_id: Any) -> dict[str, Any]:
    """The article if the caller may read it: in their feed, or on their desk."""
    row = await store.with_visibility(db, actor, article_id)
    if row is None:
        raise _not_found()
    if row["in_feed"]:
        return row
    return await _for_desk(db, actor, article_id)


async def record_read(conn: asyncpg.Connection, actor: Principal, article_id: Any,
                      read_on: date | None = None) -> dict[str, Any]:
    """A member opened the article: one read per member, article and day (today, or `read_on`
    for a read made without a connection and sent later). Only the first of the day emits
    ArticleRead. On asyncpg's own connection, in a driver_transaction (kit/db.py): members
    send it with every article they open."""
    today = domain.reading_day()
    if read_on is not None and (reason := domain.offline_read_problem(read_on, today)):
        raise invalid([("read_on", reason)])
    if not await store.in_feed(conn, actor, article_id):
        raise _not_found()
    reader = await reader_of(conn, actor)
    day, unit = read_on or today, reader["unit"]
    first = await store.insert_read(conn, actor.subject, article_id, day, reader["member_id"], unit)
    if first:
        await emit(conn, SCHEMA, ArticleRead(article_id=str(article_id), account_id=actor.subject,
                                           member_id=str(reader["member_id"]) if reader["member_id"] else None,
                                           unit=unit, day=day),
                   aggregate_id=article_id, committee=reader["committee"], unit=unit)
    return {"article_id": str(article_id), "day": day.isoformat(), "counted": first}


async def read_stats(db: AsyncConnection, actor: Principal, article_id: Any) -> dict[str, Any]:
    await _for_desk(db, actor, article_id)
    return {"article_id": str(article_id), **await store.read_stats(db, article_id, domain.reading_day())}


async def search(db: AsyncConnection, actor: Principal, q: str, limit: int) -> list[dict[str, Any]]:
    """Articles the caller may read whose title, summary or body hold every
    term of `q`, accents ignored ('nghi quyet' finds 'Nghị quyết')."""
    terms = search_terms(q)
    if not terms:
        raise invalid([("q", "needs at least one word")])
    return await store.search(db, actor, {f"t{i}": contains(t) for i, t in enumerate(terms)}, limit)


SUMMARY_KEYS = ("id", "title", "summary", "category", "tags", "author_unit", "audience", "status", "publish_at",
                "expires_at", "published_at", "source_url", "unread", "author_unit_name", "yours", "may_review")
FULL_KEYS = SUMMARY_KEYS + ("body_html", "body_format", "attachments", "fetched_at", "version", "created_at",
                            "updated_at")


def article_json(a: dict[str, Any], *, full: bool = False) -> dict[str, Any]:
    """The fields of an article the API shows (json_response serialises times and ids). A draft
    whole also carries what its author wrote (`body`), for editing it: only its editors see a draft."""
    shown = {k: a[k] for k in (FULL_KEYS if full else SUMMARY_KEYS) if k in a}
    if full and a.get("status") == "draft" and "body_source" in a:
        shown["body"] = a["body_source"]
        # The summary the author wrote; none when it was made from the body (an edit makes it again).
        shown["summary_written"] = None if a["summary"] == summary_from(a["body_html"]) else a["summary"]
    return shown
