"""Database access: one schema per service, an async engine whose
search_path is that schema (then public, for shared extensions), and
ordered SQL migrations.

Database errors carry no data: PostgreSQL writes the offending values into
an error's DETAIL (`Key (citizen_id)=(001088012345) already exists`, `Failing
row contains (…)`), and SQLAlchemy would add the statement's parameters, and
a traceback prints every error of the chain. The kit's engines hide the
parameters and take the values out of every error they raise (see
scrub_database_error), so whatever logs or stores an error's text (uvicorn's
traceback of a failed request, a consumer's dead-letter reason) has its class,
its SQLSTATE, the constraint and PostgreSQL's primary message, never a value.

Migrations are plain SQL files named NNN_what.sql. The kit's own tables
(outbox, inbox, idempotency keys) come first, then the service's. Applied
names are recorded in <schema>.schema_migrations; a transaction-level
advisory lock keeps two replicas from migrating at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

KIT_MIGRATIONS = Path(__file__).parent / "migrations"


def async_url(url: str) -> str:
    """Accept a plain postgresql:// URL (as documented) and pick the asyncpg driver."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix):]
    raise ValueError(f"not a PostgreSQL URL: {url}")


def plain_url(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(url: str, schema: str, *, pool_size: int = 20, pooled: bool = True) -> AsyncEngine:
    """The service's engine on `schema`; `pooled=False` opens a connection per use and closes
    it after (a long-lived connection of its own, such as a leader's)."""
    pooling: dict[str, Any] = {"poolclass": NullPool} if not pooled else {
        # A fixed pool: "overflow" connections are closed as soon as they are returned,
        # so a load just above the pool size would open a connection (and lose its
        # prepared statements) on nearly every request. Past 20, requests wait their turn.
        "pool_size": pool_size,
        "max_overflow": 0,
        # No ping before each checkout (a round trip, ~0.35 ms CPU per request on the
        # feed): when PostgreSQL drops connections, the first request to hit a dead one
        # fails and SQLAlchemy then invalidates the whole pool, so the next ones reconnect.
        "pool_pre_ping": False,
    }
    engine = create_async_engine(
        async_url(url),
        **pooling,
        # public holds the extensions every service may use (pg_trgm), see kit/002_extensions.sql.
        connect_args={"server_settings": {"search_path": f"{schema}, public",
                                          "application_name": f"sotay-{schema}"}},
        # An error's text never shows the statement's parameters (citizen IDs, phones, hashes).
        hide_parameters=True,
    )
    event.listen(engine.sync_engine, "handle_error", _error_without_data)
    _no_rows_in_logs()
    return engine


def _error_without_data(context) -> None:
    scrub_database_error(context.sqlalchemy_exception or context.original_exception)


class _NoRows(logging.Filter):
    """SQLAlchemy logs every fetched row (members' citizen IDs, accounts' password hashes) when its
    engine's logger is at DEBUG. It keeps its loggers at WARNING unless told otherwise; an
    operator who turns the statements on still gets them (their parameters hidden), not the rows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.msg != "Row %r"


def _no_rows_in_logs() -> None:
    engine_logger = logging.getLogger("sqlalchemy.engine.Engine")
    if not any(isinstance(f, _NoRows) for f in engine_logger.filters):
        engine_logger.addFilter(_NoRows())


# --- database errors without the data -------------------------------------------------------

# SQLSTATE classes whose primary message may quote the data itself: data exceptions (22, as in
# `invalid input syntax for type uuid: "…"`) and what PL/pgSQL code raises (P0, text it writes).
_CLASSES_QUOTING_DATA = ("22", "P0")
_WITHHELD = "message withheld, it may quote the data"
_QUERY_ARGUMENT_RE = re.compile(r"query argument (\$\d+)")


def scrub_database_error(error: BaseException | None) -> BaseException | None:
    """Take the data out of a database error and the errors it was raised from, in place.

    PostgreSQL's errors (asyncpg's) lose their DETAIL and HINT, and their primary message
    where it may quote the data (_CLASSES_QUOTING_DATA); asyncpg's refusal of a parameter
    it cannot encode (which quotes the value and chains the codec's error, which quotes it
    too) keeps only the argument's position. The errors wrapping them (SQLAlchemy's, which copied the
    text when they were made) get the same text. Idempotent."""
    replaced: list[tuple[str, str]] = []
    for link in _error_chain(error):
        if not isinstance(link, (asyncpg.PostgresError, asyncpg_base.InterfaceError)):
            continue
        before = str(link)
        link.detail = link.hint = None
        message = link.args[0] if link.args and isinstance(link.args[0], str) else ""
        if argument := _QUERY_ARGUMENT_RE.search(message):
            # The driver could not encode a parameter: its message and the codec's error it
            # chains both quote the value.
            link.args = (f"invalid input for query argument {argument.group(1)} (value withheld)",)
            link.__cause__, link.__suppress_context__ = None, True
        elif (getattr(link, "sqlstate", None) or "").startswith(_CLASSES_QUOTING_DATA):
            link.args = (f"{_WITHHELD} (SQLSTATE {link.sqlstate})",)
        if str(link) != before:
            replaced.append((before, str(link)))
    if replaced:
        for link in _error_chain(error):
            link.args = tuple(_replace_all(arg, replaced) for arg in link.args)
    return error


def database_error_text(error: BaseException) -> str | None:
    """One line for a log or a dead letter about a database error: the classes, the SQLSTATE,
    the constraint and PostgreSQL's primary message (None when no database error is in the chain)."""
    scrub_database_error(error)
    postgres = next((e for e in _error_chain(error) if isinstance(e, asyncpg.PostgresError)), None)
    if postgres is None:
        client = next((e for e in _error_chain(error) if isinstance(e, asyncpg_base.InterfaceError)), None)
        return f"{type(error).__name__}: {client.args[0]}" if client is not None else None
    message = postgres.args[0] if postgres.args else ""
    facts = [f"SQLSTATE {postgres.sqlstate}"]
    if getattr(postgres, "constraint_name", None):
        facts.append(f"constraint {postgres.constraint_name}")
    if message.startswith(_WITHHELD):
        message = _WITHHELD
    outer = "" if postgres is error else f"{type(error).__name__}: "
    return f"{outer}{type(postgres).__name__} ({', '.join(facts)}): {message}"


def unique_violation(error: BaseException) -> str | None:
    """The constraint a unique violation is about, or None for any other error."""
    for link in _error_chain(error):
        if isinstance(link, asyncpg.UniqueViolationError):
            return link.constraint_name or ""
    return None


def _error_chain(error: BaseException | None) -> Iterator[BaseException]:
    """The error, what it was raised from or during, and what a SQLAlchemy error wraps (`orig`)."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        link = todo.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield link
        todo += [link.__cause__, link.__context__, getattr(link, "orig", None)]


error_chain = _error_chain  # for the consumer's telling the server's faults from the message's


def _replace_all(arg: Any, replaced: list[tuple[str, str]]) -> Any:
    if not isinstance(arg, str):
        return arg
    for before, after in replaced:
        arg = arg.replace(before, after)
    return arg


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, without BEGIN and ROLLBACK around each use: for reads that
    run one statement, or do not need their statements to see one snapshot."""
    return engine.execution_options(isolation_level="AUTOCOMMIT")


# A connection either way: SQLAlchemy's, or asyncpg's own (a driver_transaction's).
Db = AsyncConnection | asyncpg.Connection

_CAST = re.compile(r"\$(\d+)::([\w\[\]]+)")
_PARAM = re.compile(r"\$(\d+)")


class Statement:
    """A statement written once in asyncpg's $n style and prepared once: as is on asyncpg's own
    connection, or as SQLAlchemy's text() on one of SQLAlchemy's (its parameters named p1, p2, …;
    a `$n::type` cast written CAST(:pn AS type)). The rows are mappings either way. For the
    statements a hot path runs in a driver_transaction and other paths through SQLAlchemy."""

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.text = text(_PARAM.sub(r":p\1", _CAST.sub(r"CAST(:p\1 AS \2)", sql)))

    def _params(self, args: tuple[Any, ...]) -> dict[str, Any]:
        return {f"p{i}": arg for i, arg in enumerate(args, 1)}

    async def rows(self, db: Db, *args: Any) -> list[Mapping[str, Any]]:
        if isinstance(db, asyncpg.Connection):
            return await db.fetch(self.sql, *args)
        return list((await db.execute(self.text, self._params(args))).mappings())

    async def row(self, db: Db, *args: Any) -> Mapping[str, Any] | None:
        if isinstance(db, asyncpg.Connection):
            return await db.fetchrow(self.sql, *args)
        return (await db.execute(self.text, self._params(args))).mappings().first()

    async def value(self, db: Db, *args: Any) -> Any:
        if isinstance(db, asyncpg.Connection):
            return await db.fetchval(self.sql, *args)
        return (await db.execute(self.text, self._params(args))).scalar()

    async def run(self, db: Db, *args: Any) -> None:
        if isinstance(db, asyncpg.Connection):
            await db.execute(self.sql, *args)
        else:
            await db.execute(self.text, self._params(args))



@asynccontextmanager
async def driver_transaction(reader: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the pool as asyncpg's own, in a transaction of asyncpg's own: for a
    command on a hot path whose statements are asyncpg SQL ($1 style), with none of SQLAlchemy's
    layers between them and the driver. `reader` is the pool in autocommit (ServiceContext.reader,
    `read_only`): SQLAlchemy opens no transaction of its own around it. (Under `engine.begin()`
    SQLAlchemy sends BEGIN only with its own first statement: statements sent on the driver's
    connection before it would run outside any transaction.) The transaction commits when the
    block ends and rolls back when it raises; a driver's error has its values taken out as the
    engine's are (scrub_database_error), and a connection it left closed is not returned to the pool."""
    async with driver_connection(reader) as conn, conn.transaction():
        yield conn


@asynccontextmanager
async def driver_connection(reader: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """driver_transaction without the transaction: each statement commits on its own (reads
    that need no one snapshot, a single write), with no BEGIN and COMMIT round trips."""
    async with reader.connect() as db:
        conn: asyncpg.Connection = (await db.get_raw_connection()).driver_connection
        try:
            yield conn
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            scrub_database_error(exc)
            if conn.is_closed():
                await db.invalidate()
            raise


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def org_path(codes: list[str]) -> str:
    """An org unit's path, '/city/ba-dinh/…/', from its codes city first."""
    return "/" + "/".join(codes) + "/"


def path_codes(path: str) -> list[str]:
    return path.strip("/").split("/")


async def rows_of(db: AsyncConnection, queries: dict[str, str], params: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each named query's rows, as dicts, with the same parameters (what a service holds about one
    person, say: each part of a data subject's access request)."""
    out = {}
    for name, sql in queries.items():
        out[name] = [dict(r._mapping) for r in await db.execute(text(sql), params)]
    return out


def within_subtrees(column: str, paths: list[str]) -> tuple[str, dict[str, Any]]:
    """A condition on `column`, an org path like '/city/ba-dinh/…/', true inside
    any of the subtrees at `paths` (unit codes hold no LIKE wildcards)."""
    if not paths:
        return "false", {}
    names = [f"subtree_{i}" for i in range(len(paths))]
    clause = "(" + " OR ".join(f"{column} LIKE :{name}" for name in names) + ")"
    return clause, {name: path + "%" for name, path in zip(names, paths, strict=True)}


class Where:
    """The conditions of a list query and their parameters, built up filter by filter:

        where = Where().within("m.unit_path", scopes).add("c.status = :status", status=status)
        where.after("(g.submitted_at, g.id)", cursor, "timestamptz", "uuid")
        rows = await db.execute(text(f"SELECT … WHERE {where} ORDER BY … LIMIT :limit"),
                                where.params | {"limit": limit})

    `add` leaves out a filter whose parameters are all None (one the caller did not ask for)."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: dict[str, Any] = {}

    def add(self, clause: str, **params: Any) -> Where:
        if params and all(v is None for v in params.values()):
            return self
        self.clauses.append(clause)
        self.params.update(params)
        return self

    def within(self, column: str, paths: list[str]) -> Where:
        """Only rows whose `column` (an org path) lies in one of the subtrees at `paths`."""
        clause, params = within_subtrees(column, paths)
        return self.add(clause, **params) if params else self.add(clause)

    def after(self, key: str, values: Sequence[Any] | None, *types: str) -> Where:
        """Keyset paging: rows whose `key` (a column, or a row of them in the list's order) sorts
        after `values`, the last row's (a cursor's); `types` cast each value."""
        if values is None:
            return self
        names = [f"after_{i}" for i in range(len(values))]
        casts = [f"CAST(:{n} AS {t})" if t else f":{n}" for n, t in zip(names, types or [""] * len(names),
                                                                          strict=True)]
        return self.add(f"{key} > ({', '.join(casts)})", **dict(zip(names, values, strict=True)))

    def __str__(self) -> str:
        return " AND ".join(self.clauses) or "true"


def lock_key(name: str) -> int:
    """The advisory lock (a signed 64-bit number) that stands for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


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
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key("migrate:*")})
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
