"""Fixtures of the attack suite (tests/attacks/world.py) and its summary: what was tried."""

from __future__ import annotations

import pytest

from tests.attacks.tally import COUNTS, COVERED
from tests.attacks.world import world_on


@pytest.fixture(scope="module")
def world(tmp_path_factory, postgres_server):
    with world_on(tmp_path_factory, postgres_server) as world:
        yield world


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not COUNTS and not COVERED:
        return
    terminalreporter.section("attacks: what was tried")
    for what, n in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{what:<64} {n:>7}")
    for what, endpoints in sorted(COVERED.items()):
        terminalreporter.write_line(f"{what:<64} {len(endpoints):>7}")
