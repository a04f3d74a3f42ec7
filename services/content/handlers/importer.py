"""Import from the city party website's RSS/Atom feeds.

A feed is polled when due; a poll claims the feed for a while (so replicas
never poll the same feed at once), fetches it outside any transaction, and
stores new entries, deduplicated by guid or link, as drafts for review or
published at once, per the feed's setting. Each imported article keeps its
source URL and fetched time. A broken or unreachable feed is recorded on
the feed (`last_error`, `failures`), logged, and retried with a growing
delay; it never stops the poller.

Feeds come from the public internet only (services/content/adapters/egress.py): an
address content may not fetch from is refused when the feed is set up (422)
and recorded as the feed's error when a later poll or a redirect meets one.
Parsing a downloaded feed runs in a thread, off the event loop.

Two people publish: a feed that publishes its entries at once is set up by a
chief editor and does so only once another chief editor of the unit (not the
one who set it up) has approved it; until then its entries arrive as drafts.
Nor may the chief editor who set a feed up approve a draft it brought: the
one who chose the source counts as its author. Both steps are kept in the
feed's history.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.content import domain
from services.content.adapters import articles as article_rows
from services.content.adapters import importer as store
from services.content.adapters.egress import AddressRefused, EgressPolicy
from services.content.adapters.feeds import fetch_feed
from services.content.adapters.replica import ORG, unit_paths
from services.content.domain.feeds import FeedEntry, FeedError, parse_feed
from services.content.domain.text import fold, plain_text
from services.content.handlers.articles import go_live
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.scope import covers

log = logging.getLogger("sotay.content.import")

CLAIM_S = 120  # a poll in progress holds its feed this long at most
RETRY_FIRST_S = 30


@dataclass
class FeedInput:
    url: str
    unit: str
    category: str
    audience: list[str]
    publish: bool
    interval_s: int


async def add_feed(db: AsyncConnection, actor: Principal, feed: FeedInput, policy: EgressPolicy) -> dict[str, Any]:
    problems = []
    if not feed.url.startswith(("http://", "https://")):
        problems.append(("url", "must be an http or https address"))
    path = (await unit_paths(db, [feed.unit]))[feed.unit]
    if path is None:
        problems.append(("unit", f"{feed.unit} is not a unit"))
    else:
        problems += domain.check_audience(path, await unit_paths(db, feed.audience))
    if problems:
        raise invalid(problems)
    # Only a chief editor of the unit sets a feed up (and publishing at once still waits for a second one).
    await ORG.require(db, actor, path, domain.CHIEF, "Only a chief editor of the unit sets up its feeds.")
    try:  # after the role check: no one else gets to make content resolve names
        await policy.check_before_saving(feed.url)
    except AddressRefused as exc:
        raise invalid([("url", str(exc))]) from None
    feed_id = uuid7()
    if not await store.insert(db, {"id": feed_id, "url": feed.url, "unit": feed.unit, "cat": feed.category,
                                   "aud": feed.audience, "pub": feed.publish, "iv": feed.interval_s,
                                   "by": actor.subject}):
        raise Problem(409, "Already configured", "This feed address is already configured.")
    await store.record(db, feed_id, actor.subject, "create",
                       "publishes at once once another chief editor approves" if feed.publish else "keeps drafts")
    return await store.one(db, feed_id)


async def approve_publishing(db: AsyncConnection, actor: Principal, feed_id: Any) -> dict[str, Any]:
    """A second chief editor lets a feed set to publish at once do so."""
    feed = await _chiefs_feed(db, actor, feed_id)
    if not feed["publish"]:
        raise Problem(409, "Nothing to approve", "This feed keeps its entries as drafts for review.")
    if feed["publish_approved_by"]:
        raise Problem(409, "Already approved", "Publishing this feed's entries at once is already approved.")
    if feed["created_by"] == actor.subject:
        raise Problem(403, "Forbidden", "The chief editor who set the feed up cannot approve it: another must.")
    await store.approve_publishing(db, feed_id, actor.subject)
    await store.record(db, feed_id, actor.subject, "approve_publishing", None)
    return await store.one(db, feed_id)


async def history(db: AsyncConnection, actor: Principal, feed_id: Any) -> list[dict[str, Any]]:
    await _editors_feed(db, actor, feed_id)
    return await store.history(db, feed_id)


async def _editors_feed(db: AsyncConnection, actor: Principal, feed_id: Any) -> dict[str, Any]:
    """The feed, if the caller edits its unit; else 404 (to others it does not exist)."""
    feed = await store.one(db, feed_id)
    path = feed and (await unit_paths(db, [feed["unit"]]))[feed["unit"]]
    if not path or not covers(await ORG.scope_paths(db, actor, domain.EDITORS), path):
        raise Problem(404, "Not found", "No such feed of your units.")
    return feed | {"path": path}


async def _chiefs_feed(db: AsyncConnection, actor: Principal, feed_id: Any) -> dict[str, Any]:
    """The feed, for a decision only a chief editor of its unit takes (an editor learns it exists: 403)."""
    feed = await _editors_feed(db, actor, feed_id)
    await ORG.require(db, actor, feed["path"], domain.CHIEF,
                      "Only a chief editor of the feed's unit approves its publishing.")
    return feed


async def one(db: AsyncConnection, feed_id: Any) -> dict[str, Any] | None:
    return await store.one(db, feed_id)


async def listing(db: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    paths = await ORG.scoped(db, actor, domain.EDITORS, "Feeds are for editors.")
    return await store.of_units(db, paths)


async def poll_now(db: AsyncConnection, actor: Principal, feed_id: Any) -> None:
    """Make the feed due at once (the poller picks it up within seconds)."""
    await _editors_feed(db, actor, feed_id)
    await store.make_due(db, feed_id)


async def poll_due(engine: AsyncEngine, policy: EgressPolicy, *, limit: int = 5) -> int:
    """Poll the feeds that are due. Returns how many were polled."""
    async with engine.begin() as db:
        due = await store.claim_due(db, CLAIM_S, limit)
    for feed in due:
        await poll_one(engine, feed, policy)
    return len(due)


async def poll_one(engine: AsyncEngine, feed: dict[str, Any], policy: EgressPolicy) -> int:
    fetched_at = datetime.now(UTC)
    try:
        result = await fetch_feed(feed["url"], etag=feed["etag"], modified=feed["modified"], policy=policy)
        entries = [] if result.data is None else (await asyncio.to_thread(parse_feed, result.data, url=feed["url"]))[1]
    except FeedError as exc:
        await _failed(engine, feed, str(exc))
        return 0
    except Exception as exc:  # a bug or a surprise in a feed: report it on the feed, keep polling the rest
        log.exception("content: importing %s failed", feed["url"])
        await _failed(engine, feed, f"{type(exc).__name__}: {exc}")
        return 0
    async with engine.begin() as db:
        imported = 0
        for entry in entries:
            imported += await _import(db, feed, entry, fetched_at)
        await store.polled(db, feed["id"], result.etag, result.modified, imported)
    if imported:
        log.info("content: imported %d entries from %s", imported, feed["url"])
    return imported


async def _failed(engine: AsyncEngine, feed: dict[str, Any], reason: str) -> None:
    failures = feed["failures"] + 1
    retry = next_retry(failures, feed["interval_s"]).total_seconds()
    log.warning("content: feed %s failed (%d in a row, retry in %d s): %s", feed["url"], failures, retry, reason)
    async with engine.begin() as db:
        await store.failed(db, feed["id"], reason[:1000], failures, retry)


async def _import(db: AsyncConnection, feed: dict[str, Any], entry: FeedEntry, fetched_at: datetime) -> int:
    """One entry; 0 when this feed already brought it (by guid or link)."""
    path = (await unit_paths(db, [feed["unit"]]))[feed["unit"]]
    audience = await unit_paths(db, list(feed["audience"]))
    if path is None or domain.check_audience(path, audience):
        raise FeedError(f"the feed's unit or audience is no longer valid ({feed['unit']}, {feed['audience']})")
    article_id = uuid7()
    published_at = min(entry.published_at or fetched_at, fetched_at)
    # Published at once only when a second chief editor has approved the feed doing so.
    status = "published" if feed["publish"] and feed["publish_approved_by"] else "draft"
    inserted = await article_rows.insert_imported(db, {
        "id": article_id, "title": entry.title[:500], "summary": entry.summary, "body": entry.body_html,
        "cat": feed["category"], "tags": entry.tags, "author": f"feed:{feed['id']}", "unit": feed["unit"],
        "path": path, "committee": domain.committee_of(path), "aud": list(feed["audience"]),
        "paths": sorted({p for p in audience.values() if p}), "url": entry.link or feed["url"],
        "feed": feed["id"], "key": entry.key, "at": fetched_at,
        "folded": fold(f"{entry.title} {entry.summary} {plain_text(entry.body_html)}")})
    if not inserted:
        return 0
    await article_rows.record_history(db, article_id, f"feed:{feed['id']}", "import", None, "draft",
                                      f"from {entry.link or feed['url']}")
    if status == "published":
        article = await article_rows.load(db, article_id)
        await go_live(db, article, f"feed:{feed['id']}", published_at)
    return 1


def feed_json(f: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else str(v) if k == "id" else v) for k, v in f.items()}


def next_retry(failures: int, interval_s: int) -> timedelta:
    """30 s after a first failure, doubling, never longer than the feed's own interval."""
    return timedelta(seconds=min(interval_s, RETRY_FIRST_S * 2 ** min(failures - 1, 10)))
