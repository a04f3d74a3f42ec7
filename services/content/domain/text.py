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

from sotay.kit.text import fold

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

# Links and images with any other scheme (javascript:, vbscript:, …) lose their href/src.
# Relative URLs are left alone. data: is let through here for images only (_keep_url).
ALLOWED_URL_SCHEMES = frozenset({"http", "https", "mailto", "data"})

# An image is shown only from the site itself (a relative URL) or inline: one from anywhere else
# would tell that server who reads which article, when and from where (a tracking pixel), and the
# pages' Content-Security-Policy (img-src 'self' data:) would refuse it anyway. Inline images are
# raster ones only.
_INLINE_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp)[;,]", re.IGNORECASE)
_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))

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
        attribute_filter=_keep_url,
    )
    return cleaned.strip()


def _keep_url(tag: str, attribute: str, value: str) -> str | None:
    """The attribute as it is, or None to remove it: an empty href or src (href="" points back at
    the page itself; feedparser's own sanitiser leaves one behind where it removed a javascript:
    link), a data: link, and an image from another origin (its <img> stays, with its alt text)."""
    if attribute not in ("href", "src"):
        return value
    if not value.strip():
        return None
    if attribute == "src":
        return value if same_origin_or_inline_image(value) else None
    return None if value.strip().lower().startswith("data:") else value


def same_origin_or_inline_image(url: str) -> bool:
    """Whether a browser showing this image URL on our pages fetches it from our own origin (a
    relative URL) or from nowhere (a data: image). Read as a browser reads it: surrounding spaces
    and control characters dropped, tabs and newlines inside ignored, a backslash taken as a slash,
    so `  //evil.example`, `/\\evil.example` and `\\\\evil.example` are the outside hosts they are."""
    url = re.sub(r"[\t\n\r]", "", url).strip(_C0_AND_SPACE).replace("\\", "/")
    if _SCHEME.match(url):
        return bool(_INLINE_IMAGE.match(url))
    return not url.startswith("//")


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
