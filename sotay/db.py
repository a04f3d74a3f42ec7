"""Database access: one schema per service, an async engine whose
search_path is that schema (then public, for shared extensions), and
ordered SQL migrations.

Migrations are plain SQL files named NNN_what.sql. The kit's own tables
(outbox, inbox, idempotency keys) come first, then the service's. Applied
names are recorded in <schema>.schema_migrations; a transaction-level
advisory lock keeps two replicas from migrating at once.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine

KIT_MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Accept a plain postgresql:// URL (as documented) and pick the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url}")


def plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(url: str, schema: str, *, pool_size: int = 20) -> AsyncEngine:
    return create_async_engine(
        async_url(url),
        # A fixed pool: "overflow" connections are closed as soon as they are returned,
        # so a load just above the pool size would open a connection (and lose its
        # prepared statements) on nearly every request. Past 20, requests wait their turn.
        pool_size=pool_size,
        max_overflow=0,
        # No ping before each checkout (a round trip, ~0.35 ms CPU per request on the
        # feed): when PostgreSQL drops connections, the first request to hit a dead one
        # fails and SQLAlchemy then invalidates the whole pool, so the next ones reconnect.
        pool_pre_ping=False,
        # public holds the extensions every service may use (pg_trgm), see kit/002_extensions.sql.
        connect_args={"server_settings": {"search_path": f"{schema}, public",
                                          "application_name": f"sotay-{schema}"}},
    )


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, without BEGIN and ROLLBACK around each use: for reads that
    run one statement, or do not need their statements to see one snapshot."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def org_path(codes: list[str]) -> str:
    """An org unit's path, '/city/ba-dinh/…/', from its codes city first."""
    return "/" + "/".join(codes) + "/"


def path_codes(path: str) -> list[str]:
    return path.strip("/").split("/")


def within_subtrees(column: str, paths: list[str]) -> tuple[str, dict[str, Any]]:
    """A condition on `column`, an org path like '/city/ba-dinh/…/', true inside
    any of the subtrees at `paths` (unit codes hold no LIKE wildcards)."""
    if not paths:
        return "false", {}
    names = [f"subtree_{i}" for i in range(len(paths))]
    clause = "(" + " OR ".join(f"{column} LIKE :{name}" for name in names) + ")"
    return clause, {name: path + "%" for name, path in zip(names, paths, strict=True)}


def _lock_key(schema: str) -> int:
    return int.from_bytes(hashlib.sha256(f"migrate:{schema}".encode()).digest()[:8], "big", signed=True)


def migration_files(schema: str, service_migrations: Path) -> list[tuple[str, Path]]:
    """Every migration of a service's schema, in order, with the name it is recorded under."""
    files = [(f"kit/{p.name}", p) for p in sorted(KIT_MIGRATIONS.glob("*.sql"))]
    return files + [(f"{schema}/{p.name}", p) for p in sorted(service_migrations.glob("*.sql"))]


async def pending_migrations(engine: AsyncEngine, schema: str, service_migrations: Path) -> list[str]:
    """The migrations not applied yet, read without changing anything (a role that may not
    create may still ask)."""
    async with engine.connect() as conn:
        done = set((await conn.execute(text(f'SELECT name FROM "{schema}".schema_migrations'))).scalars())
    return [name for name, _ in migration_files(schema, service_migrations) if name not in done]


async def migrate(engine: AsyncEngine, schema: str, service_migrations: Path) -> list[str]:
    """Apply what is missing; returns the names applied now."""
    files = migration_files(schema, service_migrations)
    applied_now: list[str] = []
    async with engine.begin() as conn:
        # Services share extensions in public: one migrates at a time, whatever its schema.
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key("*")})
        await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.execute(text(f'SET LOCAL search_path TO "{schema}", public'))
        await conn.execute(text(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        ))
        done = set((await conn.execute(text("SELECT name FROM schema_migrations"))).scalars())
        for name, path in files:
            if name in done:
                continue
            await _run_script(conn, path.read_text())
            await conn.execute(text("INSERT INTO schema_migrations (name) VALUES (:n)"), {"n": name})
            applied_now.append(name)
    return applied_now


async def _run_script(conn: AsyncConnection, sql: str) -> None:
    # asyncpg runs a multi-statement script when it has no parameters.
    raw = await conn.get_raw_connection()
    await raw.driver_connection.execute(sql)
