"""Rebuilding the projections from the streams, with the very handlers the
live consumers run (so a rebuild cannot disagree with them by construction).

- `replay`: the metrics service stopped, its projections are emptied and
  every event of SOTAY_MEMBERS, SOTAY_IDENTITY and SOTAY_CONTENT applied
  again; the durable consumers then resume after the last event replayed.
- `verify`: the same rebuild into a scratch schema, then every unit's
  figures compared with the live ones; the scratch schema is dropped.

Events of one entity stay in their stream's order. Across streams the
projections do not depend on order (domain/rollout.py; the live consumers meet the
same), so the three streams are replayed side by side, each fetching its
next batch while the last one is applied; a stream whose consumer names a
lane key (the registry's: member or unit) has each batch applied in LANES
transactions at once, one per group of entities. Training sessions are metrics' own
records, not events of others: their counters are added back from the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import ServiceUnavailableError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.metrics.adapters import (
    MIGRATIONS,
    counters,
    figures,
    locks,
    schema,
    training,
)
from services.metrics.handlers.consumers import consumers
from sotay.kit.clock import hanoi_day
from sotay.kit.consumer import Consumer, PermanentError, consumer_config, first_deliveries
from sotay.kit.db import create_engine, migrate
from sotay.kit.events import parse_envelope

log = logging.getLogger("sotay.metrics.rebuild")
FOLD_EVERY = 50  # batches: keeps counter_deltas small during a long replay
# A consumer with a lane key has each batch applied in this many transactions
# side by side: this process then works while PostgreSQL writes another lane.
LANES = 3
UNAVAILABLE_RETRIES = 20  # 503s a fetch may meet before the rebuild gives up (0.5 s apart)


@dataclass
class RebuildStats:
    events: int = 0
    applied: int = 0
    seconds: float = 0.0
    last_seq: dict[str, int] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


async def apply_streams(engine: AsyncEngine, js: JetStreamContext, *, batch: int = 2000,
                        record_inbox: bool = True) -> RebuildStats:
    """Apply every event now in the three streams, in batches of one transaction each,
    then fold the counters."""
    stats, started = RebuildStats(), time.perf_counter()
    await asyncio.gather(*(_apply_stream(engine, js, c, stats, batch, record_inbox) for c in consumers()))
    async with engine.begin() as db:
        await counters.fold(db, hanoi_day())
    stats.seconds = time.perf_counter() - started
    return stats


async def _apply_stream(engine: AsyncEngine, js: JetStreamContext, consumer: Consumer, stats: RebuildStats,
                        batch: int, record_inbox: bool) -> None:
    last = (await js.stream_info(consumer.stream)).state.last_seq
    stats.last_seq[consumer.stream] = last
    if last == 0:
        return
    sub = await js.pull_subscribe(consumer.filter_subject, stream=consumer.stream, config=ConsumerConfig(
        deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=60.0))
    fetched: asyncio.Queue = asyncio.Queue(maxsize=2)

    async def fetch() -> None:
        seen, unavailable = 0, 0
        try:
            while seen < last:
                try:
                    messages = await sub.fetch(batch, timeout=2.0)
                except TimeoutError:
                    break  # the rest of the range was deleted or is past the filter
                except ServiceUnavailableError:
                    # In a cluster a new consumer, or one whose node just went, can answer 503 for a
                    # moment; the range is still there: ask again, a bounded number of times.
                    unavailable += 1
                    if unavailable > UNAVAILABLE_RETRIES:
                        raise
                    await asyncio.sleep(0.5)
                    continue
                if messages and messages[-1].metadata.sequence.stream > last:
                    messages = [m for m in messages if m.metadata.sequence.stream <= last]
                if not messages:
                    break
                seen = messages[-1].metadata.sequence.stream
                await fetched.put(messages)
        finally:
            await fetched.put(None)

    fetcher = asyncio.create_task(fetch(), name=f"replay-fetch-{consumer.name}")
    try:
        batches = 0
        while (messages := await fetched.get()) is not None:
            stats.events += len(messages)
            envelopes = [e for e in (_read(consumer, m.data) for m in messages) if e and e["type"] in consumer.handlers]
            done = await asyncio.gather(*(_apply(engine, consumer, lane, record_inbox)
                                          for lane in _lanes(consumer, envelopes) if lane))
            stats.applied += sum(done)  # not `+= await`: the streams' tasks would overwrite each other
            batches += 1
            if batches % FOLD_EVERY == 0:
                async with engine.begin() as db:
                    await counters.fold(db, hanoi_day())
        await fetcher  # its failure is the replay's
    finally:
        fetcher.cancel()
        with contextlib.suppress(BaseException):
            await fetcher
        await sub.unsubscribe()


def _read(consumer: Consumer, data: bytes) -> dict[str, Any] | None:
    """An event as the live consumer reads it: an older version of a followed event as the current
    one (a v1 member event from an old stream counts as it did live). One that cannot be read was
    dead-lettered when it was consumed live, and is left out here too, with a warning."""
    envelope = parse_envelope(data)
    try:
        return consumer.read_older(envelope)
    except PermanentError as exc:
        log.warning("replay %s: event %s left out, as it was dead-lettered live: %s", consumer.name,
                    envelope["id"], exc)
        return None


def _lanes(consumer: Consumer, envelopes: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The batch split by the consumer's lane key, each lane in stream order."""
    if consumer.lane_key is None:
        return [envelopes]
    lanes: list[list[dict[str, Any]]] = [[] for _ in range(LANES)]
    for envelope in envelopes:
        lanes[hash(consumer.lane_key(envelope)) % LANES].append(envelope)
    return lanes


async def _apply(engine: AsyncEngine, consumer: Consumer, envelopes: list[dict[str, Any]], record_inbox: bool) -> int:
    """One transaction: the events' inbox rows, then the new ones through the live batch handler."""
    async with engine.begin() as db:
        if record_inbox:  # the same event twice in the stream is applied once, as live
            first = await first_deliveries(db, consumer.name, envelopes)
            envelopes = [e for e, f in zip(envelopes, first, strict=True) if f]
        if envelopes:
            await consumer.batch_handler(db, envelopes)
    return len(envelopes)


async def replay(database_url: str, js: JetStreamContext, *, ack_wait: float, max_ack_pending: int) -> RebuildStats:
    engine = create_engine(database_url, "metrics")
    try:
        async with engine.connect() as db:
            # The relay leader of a running metrics service holds this lock.
            running = await locks.relay_is_running(db)
        names = [c.name for c in consumers()]
        if running:
            raise RuntimeError("the metrics service is running: stop it, then replay")
        async with engine.begin() as db:
            await schema.empty_projections(db, names)
            await training.count_all(db)
        stats = await apply_streams(engine, js)
        # The durable consumers resume right after what was replayed.
        for consumer in consumers():
            try:
                await js.delete_consumer(consumer.stream, consumer.name)
            except Exception:  # never created yet
                pass
            config = consumer_config(consumer, ack_wait=ack_wait,
                                     max_ack_pending=max(max_ack_pending, (consumer.batch_size or 0) * 4))
            config.deliver_policy = DeliverPolicy.BY_START_SEQUENCE
            config.opt_start_seq = stats.last_seq[consumer.stream] + 1
            await js.add_consumer(consumer.stream, config)
        return stats
    finally:
        await engine.dispose()


async def all_figures(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    today = hanoi_day()
    async with engine.connect() as db:
        return await figures.of_units(db, await figures.all_units(db), today)


async def verify(database_url: str, js: JetStreamContext) -> tuple[RebuildStats, list[str]]:
    """Rebuild into a scratch schema and list every figure that differs from the live one."""
    scratch = f"metrics_verify_{uuid.uuid4().hex[:8]}"
    live, fresh = create_engine(database_url, "metrics"), create_engine(database_url, scratch)
    try:
        await migrate(fresh, scratch, MIGRATIONS)
        async with fresh.begin() as db:
            await training.copy_from_live(db)
            await training.count_all(db)
        stats = await apply_streams(fresh, js, record_inbox=True)
        want, got = await all_figures(fresh), await all_figures(live)
        differences = []
        for code in sorted(set(want) | set(got)):
            if code not in got or code not in want:
                differences.append(f"{code}: {'missing live' if code not in got else 'not in the streams'}")
                continue
            for name, value in want[code].items():
                if name != "as_of" and got[code].get(name) != value:
                    differences.append(f"{code}.{name}: live {got[code].get(name)!r}, from the streams {value!r}")
        return stats, differences
    finally:
        async with live.begin() as db:
            await schema.drop_schema(db, scratch)
        await live.dispose()
        await fresh.dispose()
