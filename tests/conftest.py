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
