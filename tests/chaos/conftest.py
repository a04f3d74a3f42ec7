"""Fault tests: slow ones (marked `slow`) run only with SOTAY_CHAOS=1 (`make chaos`); the summary
table of every fault's recovery is printed at the end of the run (by tests/conftest.py). One system
serves every module (`env`): the single faults of test_faults.py, then the faults under load of
test_load.py (under pytest-xdist the files stay on one worker, tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from tests.chaos.harness import running_system
from tests.chaos.load import LOAD_TABLES
from tests.chaos.report import RESULTS, table
from tests.support import summary

SEED = 20231


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SOTAY_CHAOS") == "1":
        return
    skip = pytest.mark.skip(reason="slow fault test: runs with SOTAY_CHAOS=1 (make chaos)")
    for item in items:
        if "slow" in item.keywords and "tests/chaos" in str(item.path):
            item.add_marker(skip)


@pytest.fixture(scope="package")
async def env(tmp_path_factory):
    async with running_system(tmp_path_factory.mktemp("chaos"), seed=SEED) as env:
        yield env


def _sections() -> list[tuple[str, str]]:
    """The summary's table of every fault's recovery, and each run under load (tests/conftest.py prints them)."""
    recovery = [("fault tests: recovery", table())] if RESULTS else []
    return recovery + [("fault tests: under load", run) for run in LOAD_TABLES]


summary.SOURCES.append(_sections)
