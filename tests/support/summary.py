"""Sections printed at the end of a run (tests/conftest.py), the workers' too when pytest-xdist
runs the suite: a part of the suite adds a source, a function giving its sections as
(title, text); a worker sends its sections to the controller as it ends, which prints them."""

from __future__ import annotations

from collections.abc import Callable

SOURCES: list[Callable[[], list[tuple[str, str]]]] = []
RECEIVED: list[tuple[str, str]] = []  # on the controller: the workers' sections


def sections() -> list[tuple[str, str]]:
    return RECEIVED + [section for source in SOURCES for section in source()]
