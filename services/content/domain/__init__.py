"""Rules of content, free of I/O: the editorial workflow, who may do what
to an article, audiences, and the day a read counts for."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.scope import covers

CATEGORIES = ("news", "directive", "guidance", "qa", "local_news")
STATUSES = ("draft", "submitted", "approved", "scheduled", "published", "retracted")
EDITORS = ("editor", "chief_editor")
CHIEF = ("chief_editor",)
# Who answers and moderates a unit's feedback.
UNIT_STAFF = ("editor", "chief_editor", "unit_admin", "cell_secretary", "city_admin")
SECRETARIES = ("cell_secretary", "unit_admin")
# Who follows the cells' meetings of a subtree (the planning and its figures): the city's leaders too.
MEETING_OVERSEERS = (*SECRETARIES, "city_admin")


# action: (statuses it starts from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "edit": (("draft",), "draft"),
    "submit": (("draft",), "submitted"),
    "return": (("submitted", "approved"), "draft"),
    "approve": (("submitted",), "approved"),
    "publish": (("approved",), "published"),      # or "scheduled" when publish_at is ahead
    "retract": (("published", "scheduled"), "retracted"),
}


class RuleBroken(Exception):
    """An action the workflow or the caller's roles do not allow; `status` is the HTTP answer,
    `code` the stable name a page says it by (the problem's `code`)."""

    def __init__(self, status: int, detail: str, field: str | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.field, self.code = status, detail, field, code


def reading_day(at: datetime | None = None) -> date:
    """A read counts once per member, article and day in Hanoi."""
    return hanoi_day(at)


# A read made without a connection is sent when the connection returns, with the day it was
# made: at most this many days back (the readers of the last 7 days are counted).
OFFLINE_READ_DAYS = 7


def offline_read_problem(read_on: date, today: date) -> str | None:
    """Why a read sent late cannot count for `read_on` (None: it can)."""
    if read_on > today:
        return "is in the future"
    if (today - read_on).days >= OFFLINE_READ_DAYS:
        return f"must be within the last {OFFLINE_READ_DAYS} days"
    return None


def next_status(action: str, current: str) -> str:
    starts, leads_to = TRANSITIONS[action]
    if current not in starts:
        raise RuleBroken(409, f"a {current} article cannot be {_past(action)} "
                              f"(only one that is {' or '.join(starts)})", code="wrong_status")
    return leads_to


def _past(action: str) -> str:
    return {"edit": "edited", "submit": "submitted", "return": "sent back", "approve": "approved",
            "publish": "published", "retract": "retracted"}[action]


def committee_of(path: str) -> str:
    """The directly subordinate committee a unit at `path` belongs to ('city' for the city)."""
    codes = path.strip("/").split("/")
    return codes[1] if len(codes) > 1 else "city"


def ancestors(path: str) -> list[str]:
    """'/city/a/b/' → ['/city/', '/city/a/', '/city/a/b/']: the audiences a unit belongs to."""
    codes = path.strip("/").split("/")
    return ["/" + "/".join(codes[:i]) + "/" for i in range(1, len(codes) + 1)]


def check_audience(author_path: str, audience_paths: dict[str, str | None]) -> list[tuple[str, str]]:
    """A unit publishes only within its own subtree; the city board to everyone.
    `audience_paths` maps each requested code to its path (None: unknown)."""
    problems = []
    if not audience_paths:
        problems.append(("audience", "needs at least one unit (['city'] for everyone)"))
    for code, path in audience_paths.items():
        if path is None:
            problems.append(("audience", f"{code} is not a unit"))
        elif not path.startswith(author_path):
            problems.append(("audience", f"{code} is outside the author unit's subtree"))
    return problems


def may_review(actor: Principal, chief_paths: list[str], article: dict, *, approving: bool,
               feed_creator: str | None = None) -> None:
    """Approving (and sending back, publishing, retracting) is for a chief editor
    of the author's unit or above; approving never for the article's own author,
    nor, for an article a feed brought, for the chief editor who set that feed up
    (choosing the source makes them its author: two people publish)."""
    if not covers(chief_paths, article["author_path"]):
        raise RuleBroken(403, "only a chief editor of the author's unit or a unit above it may do this",
                         code="only_chief")
    if approving and article["author"] == actor.subject:
        raise RuleBroken(403, "the author of an article cannot approve it: another chief editor must",
                         code="two_person_author")
    if approving and feed_creator is not None and feed_creator == actor.subject:
        raise RuleBroken(403, "the chief editor who set up the feed this article came from cannot approve it: "
                              "another chief editor must", code="two_person_feed")


def check_schedule(publish_at: datetime | None, expires_at: datetime | None,
                   now: datetime | None = None) -> list[tuple[str, str]]:
    now = now or datetime.now(UTC)
    problems = []
    for name, value in (("publish_at", publish_at), ("expires_at", expires_at)):
        if value is not None and value.tzinfo is None:
            problems.append((name, "needs a time zone (e.g. 2026-12-01T07:00:00+07:00)"))
    if problems:
        return problems
    if expires_at is not None and expires_at <= max(now, publish_at or now):
        problems.append(("expires_at", "must be after the publishing time"))
    return problems
