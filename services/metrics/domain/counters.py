"""The subtree counters' rules, free of I/O.

Handlers append (unit, metric, change) deltas; a fold adds each delta to its
unit and every unit above it (to the city alone while the tree does not know
the unit: an orphan, whose count goes to the units above it once the tree
learns it). Reader counts are kept per day (`readers:<day>`): a reader counts
on the day of their last read, in the unit they read from, and days older than
the window readers_7d looks at are dropped.

A read's day is the one content stamped on it, by content's clock. When that
clock turns the Hanoi day a few seconds before metrics' does, a member who read
yesterday and reads again in those seconds has their last read stamped on a day
metrics still calls tomorrow: such a reader read today, as metrics tells the
day, and counts in readers_today and readers_7d (see `from_counts`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from services.metrics.domain import rollout
from services.metrics.domain.rollout import Deltas
from sotay.contracts.content import ArticlePublished, ArticleRead, FeedbackPosted
from sotay.contracts.identity import (
    AccountApproved,
    AccountRejected,
    RegistrationSubmitted,
)
from sotay.contracts.members import MEMBER_SNAPSHOTS, UNIT_EVENTS
from sotay.kit.db import path_codes

CITY = "city"
TOUCH = "touch"  # a delta of 0 that only says: this unit's own figures changed
READERS = "readers:"  # + the day: readers whose last read was that day

UNIT_NAMES = frozenset(t.__name__ for t in UNIT_EVENTS)
MEMBER_NAMES = frozenset(t.__name__ for t in MEMBER_SNAPSHOTS)
# The events of a registration's life that carry its id (the others only an account's).
DECISION_NAMES = frozenset(t.__name__ for t in (RegistrationSubmitted, AccountApproved, AccountRejected))


def event_name(envelope: dict[str, Any]) -> str:
    """The event's class name, from its type (`sotay.<service>.<Name>...`)."""
    return envelope["type"].split(".")[2]


def above(path: str | None) -> list[str]:
    """The unit of `path` and every unit above it; the city alone for a unit the tree does not know."""
    return path_codes(path) if path else [CITY]


def reader_metric(day: date) -> str:
    return f"{READERS}{day.isoformat()}"


def oldest_reader_day(today: date) -> str:
    """The metric of the oldest day whose readers are still kept (readers_7d
    looks 6 days back; a day more is kept)."""
    return f"readers:{date.fromordinal(today.toordinal() - 7).isoformat()}"


@lru_cache(maxsize=4)
def reader_window(today: date) -> tuple[str, str]:
    """The reader metrics where readers_today and readers_7d begin (today, and 6
    days before it); each counts every later day too (a day stamped by a clock
    ahead of this one)."""
    return reader_metric(today), reader_metric(today - timedelta(days=6))


def from_counts(u: dict[str, Any], counts: dict[str, int], today: date) -> dict[str, Any]:
    """A unit's figures from its subtree counters (metric → n)."""
    first_today, first_of_week = reader_window(today)
    readers_today = readers_7d = 0
    reasons: dict[str, int] = {}
    for m, n in counts.items():
        if m.startswith(READERS):
            readers_today += n if m >= first_today else 0
            readers_7d += n if m >= first_of_week else 0
        elif n and m.startswith(rollout.NOT_ELIGIBLE):
            reasons[m[13:]] = n
    return rollout.figures(u, counts, readers_today=readers_today, readers_7d=readers_7d,
                           ineligible=reasons, as_of=today)


@dataclass
class Folded:
    """What a fold moved: the new value of every counter that changed, and the
    units whose own figures changed without their counters (new, renamed)."""

    counts: dict[tuple[str, str], int] = field(default_factory=dict)
    touched: set[str] = field(default_factory=set)

    @property
    def units(self) -> set[str]:
        return {unit for unit, _ in self.counts} | self.touched


@dataclass
class Moves:
    """The deltas of a fold, added up: the change of each (unit, metric) up the
    tree, the counts of units the tree does not know yet, and the units touched."""

    totals: Counter = field(default_factory=Counter)
    orphans: Counter = field(default_factory=Counter)
    touched: set[str] = field(default_factory=set)

    def moved(self) -> list[tuple[str, str]]:
        """The (unit, metric) whose counter moves, in order."""
        return sorted(k for k, n in self.totals.items() if n)


def add_up(moved: Iterable[tuple[str, str, int, str | None]], today: date) -> Moves:
    """Deltas (unit, metric, n, the unit's path or None) added up the tree. A
    touch of a known unit marks it touched; zeros and reader counts of days
    before the kept window are left out; an unknown unit's counts go to the
    city and are kept as orphans."""
    oldest = oldest_reader_day(today)
    out = Moves()
    for unit, metric, n, path in moved:
        if metric == TOUCH:
            if path:
                out.touched.add(unit)
            continue
        if not n or (metric.startswith(READERS) and metric < oldest):
            continue
        if path is None:
            out.orphans[(unit, metric)] += n
        for target in above(path):
            out.totals[(target, metric)] += n
    return out


def adopt(moves: Moves, adopted: Iterable[tuple[str, int, str]]) -> None:
    """Orphans' counts (metric, n, path) whose unit is known now: they go to the
    unit and the units above it (the city has had them since they were folded)."""
    for metric, n, path in adopted:
        for target in path_codes(path):
            if target != CITY:
                moves.totals[(target, metric)] += n


def new_values(moves: Moves, held: dict[str, dict[str, int]]) -> dict[tuple[str, str], int]:
    """The counters' new values: what is held (0 when not) plus what moved."""
    return {(u, m): held.get(u, {}).get(m, 0) + moves.totals[(u, m)] for u, m in moves.moved()}


def content_changes(envelopes: list[dict[str, Any]]) -> tuple[Deltas, dict[str, tuple[date, str]]]:
    """A content batch's counter changes, and each reader's last read (day, unit)
    in it (a staff reader, with no unit of their own, is not counted)."""
    deltas = Deltas()
    last_read: dict[str, tuple[date, str]] = {}
    for e in envelopes:
        name, d = event_name(e), e["data"]
        if name == ArticleRead.__name__ and d.get("unit"):
            day = date.fromisoformat(d["day"])
            if d["account_id"] not in last_read or last_read[d["account_id"]][0] < day:
                last_read[d["account_id"]] = (day, d["unit"])
        elif name == ArticlePublished.__name__:
            deltas.add({d["author_unit"]: {"articles_published": 1}})
        elif name == FeedbackPosted.__name__ and d.get("unit"):
            deltas.add({d["unit"]: {"feedback_posted": 1}})
    return deltas, last_read


def readers_moved(last_read: dict[str, tuple[date, str]], held: dict[str, tuple[date, str]]
                  ) -> tuple[list[str], list[tuple[str, str, int]]]:
    """The readers whose last read is later than the one held, and the reader
    count moves that follows: a later day moves a reader from the one day (and
    unit) to the other."""
    moved = [a for a in sorted(last_read) if a not in held or held[a][0] < last_read[a][0]]
    rows: list[tuple[str, str, int]] = []
    for a in moved:
        if a in held:
            rows.append((held[a][1], reader_metric(held[a][0]), -1))
        rows.append((last_read[a][1], reader_metric(last_read[a][0]), 1))
    return moved, rows
