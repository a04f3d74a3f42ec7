"""The record of processing cannot drift from the code: the real migrations of every service run on
PostgreSQL, and every column of every schema is annotated beside its migrations (personal, with
all its facts, or not personal), every field of every event beside the contracts. A column added
without an annotation fails, named table.column (sotay/system/privacy/annotations.py)."""

from __future__ import annotations

import asyncpg
import pytest

from sotay.kit.db import create_engine, migrate
from sotay.system.privacy.annotations import column_problems, read
from sotay.system.registry import SERVICES, load

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def migrated(database_url):
    """Every service's schema, as its migrations (the kit's first) make it."""
    for name in SERVICES:
        engine = create_engine(database_url, name, pooled=False)
        try:
            await migrate(engine, name, load(name).migrations)
        finally:
            await engine.dispose()
    return database_url


async def columns_of(database_url: str, schema: str) -> dict[str, list[str]]:
    """The schema's tables and their columns, as the database has them."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t USING (table_schema, table_name) "
            "WHERE c.table_schema = $1 AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position",
            schema)
    finally:
        await conn.close()
    found: dict[str, list[str]] = {}
    for row in rows:
        found.setdefault(row["table_name"], []).append(row["column_name"])
    return found


async def test_every_column_of_every_schema_and_every_event_field_is_annotated(migrated):
    annotations = read()
    problems = list(annotations.problems)
    for schema in SERVICES:
        tables = await columns_of(migrated, schema)
        assert tables, f"the {schema} schema has no tables: the migrations did not run"
        problems += column_problems(annotations, schema, tables)
    assert problems == [], "the annotations of personal data do not match the code:\n" + "\n".join(problems)


async def test_a_column_added_without_an_annotation_fails_by_its_name(migrated):
    conn = await asyncpg.connect(migrated)
    try:
        await conn.execute("ALTER TABLE identity.accounts ADD COLUMN consent_version integer")
        await conn.execute("CREATE TABLE content.consents (account_id text PRIMARY KEY, given_at timestamptz)")
        await conn.execute("ALTER TABLE metrics.outbox ADD COLUMN trace text")
    finally:
        await conn.close()
    annotations = read()
    problems = {schema: column_problems(annotations, schema, await columns_of(migrated, schema))
                for schema in ("identity", "content", "metrics")}
    assert [p.split(": ")[0] for p in problems["identity"]] == ["identity.accounts.consent_version"]
    assert "not annotated in services/identity/migrations/personal_data.toml" in problems["identity"][0]
    assert [p.split(": ")[0] for p in problems["content"]] == ["content.consents.account_id",
                                                               "content.consents.given_at"]
    assert [p.split(": ")[0] for p in problems["metrics"]] == ["metrics.outbox.trace"]
    assert "not annotated in sotay/kit/migrations/personal_data.toml" in problems["metrics"][0]
