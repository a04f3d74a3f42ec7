"""Fault tests: slow ones (marked `slow`) run only with SOTAY_CHAOS=1 (`make chaos`); the summary
table of every fault's recovery is printed at the end of the run."""

from __future__ import annotations

import os

import pytest

from tests.chaos.report import RESULTS, table


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SOTAY_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="slow fault test: runs with SOTAY_CHAOS=1 (make chaos)")
    for item in items:
        if "slow" in item.keywords and "tests/chaos" in str(item.path):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if RESULTS:
        terminalreporter.section("fault tests: recovery")
        terminalreporter.write_line(table())
