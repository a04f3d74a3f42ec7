"""Text helpers for handbook content: turning Markdown or HTML article bodies into safe HTML,
and deriving plain text, summaries and search terms from it.

Pure functions only — no I/O.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Literal

import nh3
from markdown_it import MarkdownIt

from sotay.text import fold

__all__ = ["contains", "fold", "plain_text", "sanitise_body", "search_terms", "summary_from"]

# Tags an article body may keep. Anything else is removed but its text is kept,
# except for the tags in _DROP_WITH_CONTENT, which disappear together with their text.
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr",
        "h1", "h2", "h3", "h4", "h5", "h6",
        "strong", "b", "em", "i", "u", "s",
        "blockquote", "ul", "ol", "li",
        "a", "img", "figure", "figcaption",
        "table", "thead", "tbody", "tr", "th", "td",
        "pre", "code", "span", "div", "sub", "sup",
    }
)  # fmt: skip

# Every attribute not listed here (style, class, id, onclick, onerror, …) is removed.
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan"},
}

# Links and images with any other scheme (javascript:, data:, vbscript:, …) lose their href/src.
# Relative URLs are left alone.
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto"})

_DROP_WITH_CONTENT = frozenset({"script", "style"})
_LINK_REL = "noopener noreferrer nofollow"

_markdown = MarkdownIt("commonmark", {"html": True}).enable("table")

# Before stripping all tags for plain_text, a space goes in front of every block-level tag,
# so "<p>một</p><p>hai</p>" reads "một hai" rather than "mộthai".
_BLOCK_TAG_RE = re.compile(
    r"<(?=/?(?:p|br|hr|h[1-6]|blockquote|ul|ol|li|figure|figcaption|table|thead|tbody|tr|th|td|pre|div)\b)",
    re.IGNORECASE,
)

MAX_SEARCH_TERMS = 8
MAX_SEARCH_TERM_LENGTH = 50


def sanitise_body(body: str, fmt: Literal["markdown", "html"]) -> str:
    """Return safe HTML for an article body written in Markdown or HTML.

    Markdown is rendered first (raw HTML inside it is allowed through to the sanitiser);
    then everything outside the allow-list above is removed and links get rel="noopener noreferrer nofollow".
    """
    if fmt == "markdown":
        body = _markdown.render(body)
    elif fmt != "html":
        raise ValueError(f"unknown body format: {fmt!r}")
    cleaned = nh3.clean(
        body,
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_URL_SCHEMES),
        link_rel=_LINK_REL,
        attribute_filter=_drop_empty_urls,
    )
    return cleaned.strip()


def _drop_empty_urls(tag: str, attribute: str, value: str) -> str | None:
    # href="" points back at the page itself; feedparser's own sanitiser leaves one behind
    # where it removed a javascript: link. Returning None removes the attribute.
    if attribute in ("href", "src") and not value.strip():
        return None
    return value


def plain_text(html: str) -> str:
    """The readable text of an HTML fragment, on one line, with entities decoded."""
    spaced = _BLOCK_TAG_RE.sub(" <", html)
    text = nh3.clean(spaced, tags=set(), clean_content_tags=set(_DROP_WITH_CONTENT))
    return " ".join(unescape(text).split())


def summary_from(html: str, limit: int = 300) -> str:
    """The plain text of an HTML fragment, cut at a word boundary to at most `limit` characters.

    When the text is cut, it ends with "…" (counted in the limit).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    text = plain_text(html)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # If the cut fell inside a word, go back to the last space (unless the text is one huge word).
    if text[limit - 1] != " " and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:") + "…"


def contains(term: str) -> str:
    """A LIKE pattern matching text that holds `term` as written: its %, _ and \\ are no wildcards."""
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_terms(q: str) -> list[str]:
    """Split a search query into folded (lower-case, accent-free) terms: at most 8, each at most 50 characters."""
    return [term[:MAX_SEARCH_TERM_LENGTH] for term in fold(q).split()[:MAX_SEARCH_TERMS]]
