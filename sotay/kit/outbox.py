"""Transactional outbox and its relay.

`add_events` writes events in the caller's transaction, so an event exists
exactly when the change it reports was committed.

The relay publishes unpublished rows in position order and marks them
published. It never asks for "position > last seen": a transaction that got
a lower position but committed later would be skipped. It asks for rows not
yet published, so such a row is simply published when it becomes visible,
which is commit order. One relay per schema is active at a time (the
leader loop, kit/leader.py); other replicas wait to take over. JetStream dedupes a republished row by its Nats-Msg-Id (= event
id) within the stream's duplicate window, and consumers' inboxes dedupe
beyond it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import orjson
from nats.aio.client import Client
from nats.js import JetStreamContext
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sotay.kit import telemetry
from sotay.kit.db import Statement, create_engine
from sotay.kit.events import CITY, Event, Message, make_message
from sotay.kit.leader import Leader
from sotay.kit.publishing import BatchPublisher, Outgoing

log = logging.getLogger("sotay.outbox")
tracer = trace.get_tracer("sotay.outbox")


# The rows and the relay's wake-up in one statement (one round trip on every command's path):
# a data-modifying WITH runs exactly once whether or not the query reads it, and the
# notification is delivered when the transaction commits (or not at all).
_INSERT = Statement(
    "WITH inserted AS (INSERT INTO outbox (event_id, subject, body, headers) "
    "SELECT * FROM unnest($1::uuid[], $2::text[], $3::bytea[], $4::jsonb[])) "
    "SELECT pg_notify($5, '')"
)


def notify_channel(schema: str) -> str:
    return f"sotay_outbox_{schema}"


def trace_headers() -> dict[str, str]:
    """The current trace context, so the consumer's span joins the request's trace."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


async def add_events(db: AsyncConnection | AsyncSession | asyncpg.Connection, schema: str,
                     messages: Iterable[Message]) -> int:
    messages = list(messages)
    if not messages:
        return 0
    headers = orjson.dumps(trace_headers()).decode()
    await _INSERT.run(db, [m.id for m in messages], [m.subject for m in messages], [m.body() for m in messages],
                      [headers] * len(messages), notify_channel(schema))
    return len(messages)


async def emit(db: AsyncConnection | AsyncSession | asyncpg.Connection, schema: str, event: Event, *,
               aggregate_id: Any, committee: str | None, unit: str | None, sequence: int | None = None) -> None:
    """Write one event to `schema`'s outbox in the caller's transaction (a command's usual way;
    `add_events` takes many at once; either takes asyncpg's own connection too, in a
    driver_transaction). No committee means the city's."""
    await add_events(db, schema, [make_message(event, aggregate_id=str(aggregate_id), committee=committee or CITY,
                                               orgunit=unit, sequence=sequence)])


def leader_name(schema: str) -> str:
    """The lock the relay leader of `schema` holds (kit/leader.py; a running service has one)."""
    return f"relay:{schema}"


class OutboxRelay:
    def __init__(
        self,
        database_url: str,
        schema: str,
        js: JetStreamContext,
        nc: Client,
        *,
        batch_size: int = 1000,
        poll_interval: float = 1.0,
        ack_timeout: float = 10.0,
        retention: str = "1 day",
    ) -> None:
        self.schema = schema
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.retention = retention
        self.published = 0
        self.publisher = BatchPublisher(js, nc, timeout=ack_timeout)
        # Its own connection, not one of the service's pool: it is held for as long as this replica leads.
        self.engine = create_engine(database_url, schema, pooled=False)
        self.leader = Leader(leader_name(schema), self.engine.connect, wait_s=poll_interval)
        self._wakeup = asyncio.Event()
        self.stopping = False

    def stop(self) -> None:
        """Stop after the round being published is acknowledged and marked (docs/upgrades.md): the
        rows left go with the next relay to lead, and none is published twice for want of its mark."""
        self.stopping = True
        self.leader.stop()
        self._wakeup.set()

    @property
    def is_leader(self) -> bool:
        return self.leader.is_leader

    async def run(self) -> None:
        """Run until cancelled; survives database and NATS outages (the rows are still there)."""
        try:
            await self.leader.run(self._relay)
        finally:
            await asyncio.shield(self.engine.dispose())

    async def _relay(self, connection: AsyncConnection) -> None:
        conn: asyncpg.Connection = (await connection.get_raw_connection()).driver_connection
        await conn.add_listener(notify_channel(self.schema), lambda *_: self._wakeup.set())
        rounds = 0
        while not self.stopping:
            self._wakeup.clear()
            sent = await self.publish_pending(conn)
            rounds += 1
            if rounds % 600 == 0:
                await conn.execute(f"DELETE FROM outbox WHERE published_at < now() - interval '{self.retention}'")
            if sent < self.batch_size and not self.stopping:
                try:
                    await asyncio.wait_for(self._wakeup.wait(), self.poll_interval)
                except TimeoutError:
                    pass

    async def publish_pending(self, conn: asyncpg.Connection) -> int:
        rows = await conn.fetch(
            "SELECT position, event_id::text, subject, body, headers::text AS headers FROM outbox "
            "WHERE published_at IS NULL ORDER BY position LIMIT $1",
            self.batch_size,
        )
        if not rows:
            return 0
        with _publish_span(rows):
            log.debug("relay %s: publishing %d events", self.schema, len(rows))
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


def _publish_span(rows):
    """The relay's PRODUCER span for a round: a child of the request whose events these are when they
    all come from one (telemetry.batch_span), linked to each otherwise. The messages keep the
    traceparent the outbox wrote, so their consumers are children of the request too."""
    carriers = [orjson.loads(text) for text in {row["headers"] for row in rows}]  # parsed once per request
    return telemetry.batch_span(tracer, "publish", SpanKind.PRODUCER, carriers,
                                subjects=[row["subject"] for row in rows],
                                message_ids=[row["event_id"] for row in rows[:1]])


def _runs_by_stream(outgoing: list[Outgoing]) -> list[list[Outgoing]]:
    """Consecutive messages whose subjects share their first two tokens (one stream each)."""
    runs: list[list[Outgoing]] = []
    for message in outgoing:
        if runs and runs[-1][0][0].split(".", 2)[:2] == message[0].split(".", 2)[:2]:
            runs[-1].append(message)
        else:
            runs.append([message])
    return runs


# --- after a restore: what the database says was published, the stream does not hold -----------


@dataclass
class Reconciled:
    schema: str
    checked: int  # rows marked published that were looked for in their stream
    republish: int  # of them, not in the stream: marked unpublished again, for the relay


async def reconcile(conn: asyncpg.Connection, nc: Client, schema: str, *, since: datetime | None = None,
                    margin_s: float = 960.0) -> Reconciled:
    """Rows of `schema`'s outbox marked published whose event the stream does not hold (the stream
    was restored from a backup older than the database's) are marked unpublished again, so the
    relay publishes them: nothing the database committed is missing from the streams, and what the
    streams hold is not published twice (those rows keep their mark). Safe while the relay runs: a
    row it marks after the rows are read is not looked at, one marked before is in the stream.

    The stream is read from the earliest row's `published_at` less `margin_s` (at least the
    stream's duplicate window, within which a publish the relay repeated was stored earlier than
    its row was marked, plus the clocks' difference); `since`: only rows published from then on
    (the outbox keeps a day of published rows in any case)."""
    from sotay.kit.stream_backup import message_ids
    from sotay.kit.streams import stream_for_service

    query = f'SELECT event_id::text, subject, published_at FROM "{schema}".outbox WHERE published_at IS NOT NULL'
    rows = await conn.fetch(query + (" AND published_at >= $1" if since else ""), *([since] if since else []))
    by_stream: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        by_stream.setdefault(stream_for_service(row["subject"].split(".")[1]), []).append(row)
    missing: list[str] = []
    for stream, group in by_stream.items():
        start = min(r["published_at"] for r in group) - timedelta(seconds=margin_s)
        held = await message_ids(nc, stream, start)
        missing += [r["event_id"] for r in group if r["event_id"] not in held]
    if missing:
        await conn.execute(f'UPDATE "{schema}".outbox SET published_at = NULL WHERE event_id = ANY($1::uuid[])',
                           missing)
    return Reconciled(schema, len(rows), len(missing))
