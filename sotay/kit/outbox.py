"""Transactional outbox and its relay.

`add_events` writes events in the caller's transaction, so an event exists
exactly when the change it reports was committed.

The relay publishes unpublished rows in position order and marks them
published. It never asks for "position > last seen": a transaction that got
a lower position but committed later would be skipped. It asks for rows not
yet published, so such a row is simply published when it becomes visible,
which is commit order. One relay per schema is active at a time (a
PostgreSQL advisory lock held on its connection); other replicas wait to
take over. JetStream dedupes a republished row by its Nats-Msg-Id (= event
id) within the stream's duplicate window, and consumers' inboxes dedupe
beyond it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable

import asyncpg
import orjson
from nats.js import JetStreamContext
from opentelemetry import propagate, trace
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sotay.kit.db import database_error_text, plain_url
from sotay.kit.events import Message
from sotay.kit.publishing import BatchPublisher, Outgoing

log = logging.getLogger("sotay.outbox")
tracer = trace.get_tracer("sotay.outbox")


# The rows and the relay's wake-up in one statement (one round trip on every command's path):
# a data-modifying WITH runs exactly once whether or not the query reads it, and the
# notification is delivered when the transaction commits (or not at all).
_INSERT = text(
    "WITH inserted AS (INSERT INTO outbox (event_id, subject, body, headers) "
    "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:subjects AS text[]), CAST(:bodies AS bytea[]), "
    "CAST(:headers AS jsonb[]))) "
    "SELECT pg_notify(:channel, '')"
)


def notify_channel(schema: str) -> str:
    return f"sotay_outbox_{schema}"


def trace_headers() -> dict[str, str]:
    """The current trace context, so the consumer's span joins the request's trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


async def add_events(db: AsyncConnection | AsyncSession, schema: str, messages: Iterable[Message]) -> int:
    messages = list(messages)
    if not messages:
        return 0
    headers = orjson.dumps(trace_headers()).decode()
    await db.execute(_INSERT, {
        "ids": [m.id for m in messages],
        "subjects": [m.subject for m in messages],
        "bodies": [m.body() for m in messages],
        "headers": [headers] * len(messages),
        "channel": notify_channel(schema),
    })
    return len(messages)


def leader_key(schema: str) -> int:
    """The advisory lock the relay leader of `schema` holds (a running service has one)."""
    return int.from_bytes(hashlib.sha256(f"relay:{schema}".encode()).digest()[:8], "big", signed=True)


class OutboxRelay:
    def __init__(
        self,
        database_url: str,
        schema: str,
        js: JetStreamContext,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        ack_timeout: float = 10.0,
        retention: str = "1 day",
    ) -> None:
        self.dsn = plain_url(database_url)
        self.schema = schema
        self.js = js
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.ack_timeout = ack_timeout
        self.retention = retention
        self.published = 0
        self.is_leader = False
        self.publisher = BatchPublisher(js, timeout=ack_timeout)
        self._wakeup = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled; survives database and NATS outages."""
        backoff = 0.5
        while True:
            try:
                await self._run_as_leader_when_possible()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any outage: reconnect and go on, the rows are still there
                self.is_leader = False
                # A database error is told without its DETAIL, which would quote the row's values.
                told = database_error_text(exc) or str(exc)
                log.warning("outbox relay %s: %s; retrying in %.1fs", self.schema, told, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    async def _run_as_leader_when_possible(self) -> None:
        conn = await asyncpg.connect(self.dsn, server_settings={"search_path": self.schema})
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", leader_key(self.schema)):
                await asyncio.sleep(self.poll_interval)
            self.is_leader = True
            await conn.add_listener(notify_channel(self.schema), lambda *_: self._wakeup.set())
            rounds = 0
            while True:
                self._wakeup.clear()
                sent = await self.publish_pending(conn)
                rounds += 1
                if rounds % 600 == 0:
                    await conn.execute(
                        f"DELETE FROM outbox WHERE published_at < now() - interval '{self.retention}'")
                if sent < self.batch_size:
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
                    except TimeoutError:
                        pass
        finally:
            self.is_leader = False
            await conn.close(timeout=2)

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT position, event_id::text, subject, body, headers FROM outbox "
            "WHERE published_at IS NULL ORDER BY position LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        with tracer.start_as_current_span("outbox.relay", attributes={"sotay.outbox.rows": len(rows)}):
            # All rows at once (publishing.py), a run of rows bound for one stream at a time.
            outgoing = []
            for row in rows:
                headers = orjson.loads(row["headers"])
                headers["Nats-Msg-Id"] = row["event_id"]
                outgoing.append((row["subject"], row["body"], headers))
            results: list[BaseException | None] = []
            for run in _runs_by_stream(outgoing):
                results += await self.publisher.publish(run)
            acked = [row["position"] for row, res in zip(rows, results, strict=True) if res is None]
            if acked:
                await self._mark_published(conn, acked)
            failed = len(rows) - len(acked)
            self.published += len(acked)
            if failed:
                first = next(r for r in results if isinstance(r, BaseException))
                raise RuntimeError(f"{failed} of {len(rows)} publishes not acknowledged: {first!r}")
            return len(rows)

    async def _mark_published(self, conn: asyncpg.Connection, positions: list[int]) -> None:
        await conn.execute("UPDATE outbox SET published_at = now() WHERE position = ANY($1::bigint[])", positions)


def _runs_by_stream(outgoing: list[Outgoing]) -> list[list[Outgoing]]:
    """Consecutive messages whose subjects share their first two tokens (one stream each)."""
    runs: list[list[Outgoing]] = []
    for message in outgoing:
        if runs and runs[-1][0][0].split(".", 2)[:2] == message[0].split(".", 2)[:2]:
            runs[-1].append(message)
        else:
            runs.append([message])
    return runs
