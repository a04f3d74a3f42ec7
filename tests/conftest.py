"""Test servers: a real nats-server with JetStream and a real PostgreSQL.

By default the suite starts embedded ones (the same wheels `sotay up` uses)
in a temporary directory; set SOTAY_TEST_NATS_URL / SOTAY_TEST_DATABASE_URL
to use running servers instead. Each test module gets its own database and
its own JetStream (a fresh NATS server), so modules never see each other's
streams or rows.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import asyncpg
import pytest

from sotay.kit.embedded import EmbeddedNats, EmbeddedPostgres
from tests.attacks.tally import COUNTS, COVERED
from tests.support import summary

# `make test` hands the test files to three workers (pytest-xdist, --dist loadfile) in the order
# collected: the slowest directories go first, so that no long file starts last and runs alone.
TESTS = Path(__file__).parent
FIRST = ("system", "chaos", "browser", "attacks", "integration")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        top = item.path.relative_to(TESTS).parts[0] if item.path.is_relative_to(TESTS) else ""
        return FIRST.index(top) if top in FIRST else len(FIRST)
    items.sort(key=rank)  # stable: each file's tests keep their order


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """--dist loadfile, with the fault tests' files kept together: they share one system (tests/chaos/conftest.py)."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class FilesAndTheFaultTests(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            file = super()._split_scope(nodeid)
            return "tests/chaos" if file.startswith("tests/chaos/") else file
    return FilesAndTheFaultTests(config, log)


def pytest_sessionfinish(session):
    """On a worker of pytest-xdist: its part of the attack suite's tally and its summary sections."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["attacks"] = {"counts": dict(COUNTS),
                                                  "covered": {what: sorted(e) for what, e in COVERED.items()}}
        session.config.workeroutput["sections"] = summary.sections()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    """On the controller: a finished worker's tally added to the whole's, its sections kept."""
    output = getattr(node, "workeroutput", {})
    COUNTS.update(output.get("attacks", {}).get("counts", {}))
    for what, endpoints in output.get("attacks", {}).get("covered", {}).items():
        COVERED.setdefault(what, set()).update(endpoints)
    summary.RECEIVED.extend(tuple(section) for section in output.get("sections", []))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """What the attack suite tried (tests/attacks/tally.py), then the other parts' sections."""
    if hasattr(config, "workeroutput"):
        return
    if COUNTS or COVERED:
        terminalreporter.section("attacks: what was tried")
        for what, n in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{what:<64} {n:>7}")
        for what, endpoints in sorted(COVERED.items()):
            terminalreporter.write_line(f"{what:<64} {len(endpoints):>7}")
    for title, text in summary.sections():
        terminalreporter.section(title)
        terminalreporter.write_line(text)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    configured = os.environ.get("SOTAY_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"), database="postgres")
    url = server.start()
    yield url
    server.stop()


@pytest.fixture(scope="module")
async def database_url(postgres_server):
    """A fresh database for the module, dropped afterwards."""
    name = f"sotay_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    base, _, _ = postgres_server.rpartition("/")
    yield f"{base}/{name}"
    admin = await asyncpg.connect(postgres_server)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory):
    configured = os.environ.get("SOTAY_TEST_NATS_URL")
    if configured:
        yield configured
        return
    server = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    yield server.start()
    server.stop()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("sotay-data")


@pytest.fixture(scope="module")
def push_service():
    """A local push service standing in for the browsers' (tests/support/push.py), for a module."""
    from tests.support.push import LocalPushService

    with LocalPushService() as service:
        yield service
