"""What the attack suite tried, counted for its summary at the end of the session
(tests/conftest.py prints it, the workers' tallies added up under pytest-xdist)."""

from __future__ import annotations

from collections import Counter

COUNTS: Counter = Counter()
COVERED: dict[str, set[str]] = {}  # what → the endpoints ("METHOD /path") it reached


def count(what: str, n: int = 1) -> None:
    COUNTS[what] += n


def cover(what: str, endpoint: str) -> None:
    COVERED.setdefault(what, set()).add(endpoint)
