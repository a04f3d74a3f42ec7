"""Reading news from RSS 2.0, RSS 1.0 and Atom feeds: turn a downloaded feed into clean,
sanitised entries ready to be stored as handbook articles.

`parse_feed` does no I/O (feedparser never fetches anything itself); downloading is
services/content/adapters/feeds.py `fetch_feed`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from urllib.parse import urlsplit

import feedparser

from services.content.domain.text import plain_text, sanitise_body, summary_from

MAX_TAGS = 10
UNTITLED = "(no title)"


class FeedError(Exception):
    """A feed could not be downloaded or is not an RSS/Atom document; the message says why in a few words."""


@dataclass(frozen=True)
class FeedEntry:
    key: str  # the entry's guid/id, or its link when it has none
    title: str
    link: str | None  # only http(s) links; feedparser sometimes puts an Atom "urn:…" id here
    summary: str  # plain text
    body_html: str  # sanitised HTML
    published_at: datetime | None  # timezone-aware, UTC
    tags: list[str]


def parse_feed(data: bytes, *, url: str = "") -> tuple[str, list[FeedEntry]]:
    """Parse a feed document and return (feed title, entries).

    `url` is where the document came from; relative links inside it are resolved against it.
    Entries with neither an id nor a link are skipped; of entries sharing an id, the first is kept.
    """
    headers = {"content-location": url} if url else None
    # Always hand feedparser a stream: given a str it may fetch a URL, and given bytes it first
    # tries to open them as a local file name.
    parsed = feedparser.parse(io.BytesIO(data), response_headers=headers)

    feed_title = " ".join(parsed.feed.get("title", "").split())
    # feedparser sets `bozo` even for good feeds (e.g. "no Content-type specified" when given bytes),
    # so it only counts as broken when nothing at all was recognised.
    if parsed.get("bozo") and not parsed.entries and not feed_title:
        raise FeedError(f"not an RSS or Atom feed: {_describe(parsed, url)}")
    if not parsed.get("version") and not parsed.entries:
        raise FeedError(f"not an RSS or Atom feed: {_describe(parsed, url)}")

    entries: list[FeedEntry] = []
    seen_keys: set[str] = set()
    for raw in parsed.entries:
        entry = _to_entry(raw)
        if entry is None or entry.key in seen_keys:
            continue
        seen_keys.add(entry.key)
        entries.append(entry)
    return feed_title, entries


def _describe(parsed: feedparser.FeedParserDict, url: str) -> str:
    where = url or "document"
    problem = parsed.get("bozo_exception")
    return f"{where} ({problem})" if problem else where


def _to_entry(raw: feedparser.FeedParserDict) -> FeedEntry | None:
    link = raw.get("link") or None
    if link and urlsplit(link).scheme.lower() not in ("http", "https"):
        link = None
    key = (raw.get("id") or "").strip() or link
    if not key:
        return None

    body_html = _body_html(raw)
    # The summary comes from the entry's own summary/description when there is one,
    # otherwise from the full content.
    summary_source = _detail_html(raw.get("summary_detail")) or body_html
    summary = summary_from(summary_source)

    title = _title(raw) or summary_from(summary_source, 80) or UNTITLED
    return FeedEntry(
        key=key,
        title=title,
        link=link,
        summary=summary,
        body_html=body_html,
        published_at=_published_at(raw),
        tags=_tags(raw),
    )


def _body_html(raw: feedparser.FeedParserDict) -> str:
    contents = raw.get("content") or []
    return _detail_html(contents[0] if contents else raw.get("summary_detail"))


def _detail_html(detail: dict | None) -> str:
    """Sanitised HTML for a feedparser text construct (an entry's content or summary_detail).

    We read the *_detail dicts rather than `entry.summary`, because feedparser quietly answers
    `entry.summary` with the content when an entry has no summary.
    Plain-text constructs (type "text/plain") arrive unescaped, so their "<" and "&" are escaped
    again before they are treated as HTML.
    """
    if not detail or not detail.get("value"):
        return ""
    value = detail["value"]
    if detail.get("type") == "text/plain":
        value = escape(value, quote=False)
    return sanitise_body(value, "html")


def _title(raw: feedparser.FeedParserDict) -> str:
    title = raw.get("title", "")
    detail = raw.get("title_detail")
    if detail and detail.get("type") in ("text/html", "application/xhtml+xml"):
        return plain_text(sanitise_body(title, "html"))
    return " ".join(title.split())


def _published_at(raw: feedparser.FeedParserDict) -> datetime | None:
    # feedparser has already converted these to UTC.
    parsed_time = raw.get("published_parsed") or raw.get("updated_parsed")
    if not parsed_time:
        return None
    return datetime(*parsed_time[:6], tzinfo=UTC)


def _tags(raw: feedparser.FeedParserDict) -> list[str]:
    tags: list[str] = []
    for tag in raw.get("tags") or []:
        term = " ".join((tag.get("term") or "").split())
        if term and term not in tags:
            tags.append(term)
        if len(tags) == MAX_TAGS:
            break
    return tags
