"""Notifications, free of I/O: which choice of the member's governs each kind of notice, how
long a push service may hold one for a device that is off, and what a push carries.

A push goes through a push service run by the browser's maker (Google, Mozilla, Apple,
Microsoft), possibly abroad: its payload is encrypted for the device, and carries nothing
personal all the same: the kind, the id the page opens, and an article's or a study topic's title
(the news itself, already public to its audience). Who is told, and about which meeting, stays here."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

KINDS = ("article", "meeting", "meeting_reminder", "account_approved", "account_rejected", "study")
# A member's three choices (notice_settings), each governing some kinds, in the inbox and pushed alike.
CHOICES = ("articles", "meetings", "account")
CHOICE_OF = {"article": "articles", "meeting": "meetings", "meeting_reminder": "meetings",
             "account_approved": "account", "account_rejected": "account", "study": "articles"}
INBOX_DAYS = 30  # the inbox shows the notices of the last 30 days
STALE = timedelta(days=1)  # a notice not pushed within a day of its time is not pushed at all
ACCOUNT_TTL = timedelta(days=7)
ARTICLE_TTL = timedelta(days=1)


def push_ttl(kind: str, at: datetime, details: dict[str, Any], now: datetime) -> int:
    """Seconds a push service may keep the push for a device that is off: a meeting's until it
    starts, an article's for a day, the account's for a week."""
    if kind in ("meeting", "meeting_reminder") and details.get("starts_at"):
        until = datetime.fromisoformat(details["starts_at"])
    elif kind.startswith("account"):
        until = at + ACCOUNT_TTL
    else:
        until = at + ARTICLE_TTL
    return max(0, int((until - now).total_seconds()))


def push_payload(notice_id: int, kind: str, ref: str, title: str | None) -> bytes:
    """What a device is sent: no name, no unit, no place; the service worker words it."""
    body: dict[str, Any] = {"id": notice_id, "kind": kind, "ref": ref}
    if kind in ("article", "study") and title:
        body["title"] = title[:200]
    return json.dumps(body, ensure_ascii=False).encode()
