"""The snapshot publisher: folds the counters and publishes the figures of the
units they moved (`RolloutSnapshot` on `sotay.metrics.rollout.<committee>`, the
latest per unit also in the key-value bucket `sotay_rollout`), on one replica
at a time (the kit's `Leader`, on the lock `PUBLISHER`)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time as time_module
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime, time
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics.adapters import counters, figures, history, locks, published
from services.metrics.adapters.published import Entry
from services.metrics.domain.counters import from_counts, oldest_reader_day
from services.metrics.domain.rollout import committee_of
from sotay.contracts.metrics import RolloutSnapshot
from sotay.kit.clock import HANOI, hanoi_day
from sotay.kit.db import lock_key
from sotay.kit.events import message_from_payload
from sotay.kit.leader import Leader
from sotay.kit.outbox import add_events
from sotay.kit.publishing import BatchPublisher, server_has_atomic_batches
from sotay.kit.service import ServiceContext, stop_tasks
from sotay.kit.streams import ensure_bucket, rollout_bucket

PUBLISHER = locks.PUBLISHER  # the lock's name: the replica holding it publishes
PUBLISHER_KEY = lock_key(PUBLISHER)  # the advisory lock it stands for (tests/system see who holds it)
PUBLISHED_EVERY_S = 2.0
time_now = time_module.monotonic


def digest(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=16).digest()


class SnapshotPublisher:
    """Folds the consumers' deltas into the subtree counters and publishes the
    figures of every unit they moved, every `interval_s` (less often when rounds
    grow long: `pause_after`): a burst of events thus gives at most about
    1/interval_s snapshots per unit, whatever its size.

    One replica publishes: the holder of a PostgreSQL advisory lock (the others
    wait to take over; the kit's `Leader`). Being the only writer of the counters
    and of `published`, it keeps both in memory (`Held`), so a round reads nothing
    back. A round is one transaction: the fold, then for each unit whose
    figures differ from what was last published, the RolloutSnapshot event
    (through the outbox, so the stream holds exactly what was committed);
    every PUBLISHED_EVERY_S (and when it stops) the round also writes what it
    published to `published`. The bucket's values are put meanwhile; on taking
    over, the bucket is put again from `published`, which mends a put a crash
    lost (or one of a round that failed). On taking over, and when the Hanoi day turns (readers_today
    starts again from 0), every unit is compared, `sweep_chunk` units a round;
    at the turn of the day the figures last published each earlier day go into
    the history (`unit_daily`)."""

    def __init__(self, interval_s: float = 0.4, sweep_chunk: int = 2000, chunk: int = 500,
                 max_pause_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.max_pause_s = max_pause_s
        self.sweep_chunk = sweep_chunk
        self.chunk = chunk
        self.published = 0
        self.publisher: BatchPublisher | None = None
        self.leader: Leader | None = None
        self._task: asyncio.Task | None = None

    @property
    def is_leader(self) -> bool:
        return self.leader is not None and self.leader.is_leader

    async def start(self, ctx: ServiceContext) -> None:
        await ensure_bucket(ctx.js, rollout_bucket(ctx.settings.stream_replicas),
                            atomic=server_has_atomic_batches(ctx.nc))
        self.publisher = BatchPublisher(ctx.js, ctx.nc)
        self._task = asyncio.create_task(self.run(ctx.engine.connect), name="metrics-snapshots")
        ctx.probes.leader("snapshots", lambda: self.is_leader)
        ctx.probes.refresh_with("last snapshot", lambda: last_snapshot(ctx))

    async def stop(self, ctx: ServiceContext) -> None:
        if self._task:
            await stop_tasks([self._task], "metrics")

    async def run(self, connect: Callable[[], AbstractAsyncContextManager[AsyncConnection]]) -> None:
        """Until cancelled: wait for the lock (polling every 5 rounds' time), then
        publish while it is held; the database or NATS away, the deltas wait in
        their table and the loop starts again."""
        self.leader = Leader(PUBLISHER, connect, wait_s=self.interval_s * 5, max_backoff_s=1.0)
        await self.leader.run(self.lead)

    async def lead(self, conn: AsyncConnection) -> None:
        """Publish, on `conn` (which holds the lock), until cancelled or failing."""
        held = await Held.load(conn)
        await published.put(self.publisher, await bodies_published(conn))
        day: date | None = None
        sweep: list[str] = []
        try:
            while True:
                started = time_now()
                today = hanoi_day()
                if today != day:
                    await turn_day(conn, held, today)
                    sweep, day = held.codes_by_path(), today
                chunk, sweep = sweep[:self.sweep_chunk], sweep[self.sweep_chunk:]
                await self.publish_round(conn, held, today, chunk)
                if not sweep:
                    await asyncio.sleep(self.pause_after(time_now() - started))
        finally:
            if held.unflushed:  # stopping: what was published goes into `published` (best effort)
                with contextlib.suppress(Exception):
                    await asyncio.shield(held.flush_now(conn))

    def pause_after(self, took: float) -> float:
        """Rounds start every interval_s; after a round that took longer than half
        of that (a burst moved thousands of units: a registry import moves every
        cell), the pause is as long as the round was, up to `max_pause_s`.
        Snapshots then take less of the cores the consumers need, and a burst
        gives fewer of them; the cap keeps a round's deltas, and the memory
        folding them takes, from growing with each longer pause."""
        return max(self.interval_s - took, min(took, self.max_pause_s))

    async def publish_round(self, conn: AsyncConnection, held: Held, today: date, also: list[str] = ()) -> int:
        """One round (see the class); `also`: units to compare even if nothing
        moved them. Returns the number of snapshots published. The moved units
        are compared, announced and put `chunk` at a time, so a round that moves
        the whole tree holds one chunk's figures and bodies at once, not all."""
        putting: asyncio.Future | None = None
        entries: dict[str, Entry] = {}  # code: (body, digest, at) of each published
        try:
            async with conn.begin():
                folded = await counters.fold(conn, today, held.counts)
                held.add(folded.counts)
                codes = folded.units | set(also)
                await held.learn_units(conn, folded.touched | {c for c in codes if c not in held.units})
                codes = sorted(c for c in codes if c in held.units)
                at = datetime.now(UTC)
                for start in range(0, len(codes), self.chunk):
                    due = []
                    for code in codes[start:start + self.chunk]:
                        u = held.units[code]
                        now = from_counts(u, held.counts.get(code, {}), today)
                        body = orjson.dumps(now)
                        if held.digests.get(code) != (d := digest(body)):
                            due.append((u, now, body, d))
                    if not due:
                        continue
                    # The bucket's puts go out while the round is written, one chunk's at a time;
                    # should the round fail, a new leader puts the bucket back from `published`.
                    if putting is not None:
                        await putting
                    putting = asyncio.ensure_future(
                        published.put(self.publisher, [(u["code"], b) for u, _, b, _ in due]))
                    await announce(conn, due, at)
                    entries.update((u["code"], (body, d, at)) for u, _, body, d in due)
                flushing = time_now() - held.flushed_at >= PUBLISHED_EVERY_S
                if flushing:
                    await held.flush(conn, entries)
        except BaseException:
            if putting is not None:
                putting.cancel()
            raise
        held.digests.update((code, d) for code, (_, d, _) in entries.items())
        held.flushed(entries, flushing)
        if putting is not None:
            await putting
        self.published += len(entries)
        return len(entries)


async def last_snapshot(ctx: ServiceContext) -> None:
    """When the figures of a unit were last published, whichever replica published them (written
    to `published` within PUBLISHED_EVERY_S), for Prometheus and `sotay status`."""
    async with ctx.reader.connect() as db:
        at = await published.last_at(db)
    ctx.probes.set("sotay_rollout_last_snapshot_timestamp_seconds", "When a RolloutSnapshot was last published "
                   "(Unix time, as recorded within 2 s)", at.timestamp() if at else None)


class Held:
    """What the publishing replica alone writes, as it last wrote it: every
    unit's subtree counters, the digest of its last published figures, and
    the org tree. Loaded when it takes over; dropped with it on any failure."""

    def __init__(self) -> None:
        self.units: dict[str, dict[str, Any]] = {}
        self.counts: dict[str, dict[str, int]] = {}
        self.digests: dict[str, bytes] = {}
        # Published but not yet in `published` (written every PUBLISHED_EVERY_S; a
        # new leader republishes what a crash kept from it: the same figures again).
        self.unflushed: dict[str, Entry] = {}
        self.flushed_at = time_now()

    async def flush(self, conn: AsyncConnection, also: dict[str, Entry] | None = None) -> None:
        """Write what is unflushed (and `also`) to `published`, in the caller's
        transaction: `flushed` then says whether it committed."""
        await published.write(conn, {**self.unflushed, **(also or {})})

    def flushed(self, entries: dict[str, Entry], flushing: bool) -> None:
        """A round committed: its entries were written with the rest, or wait for the next flush."""
        if flushing:
            self.unflushed, self.flushed_at = {}, time_now()
        else:
            self.unflushed.update(entries)

    async def flush_now(self, conn: AsyncConnection) -> None:
        async with conn.begin():
            await self.flush(conn)
        self.flushed({}, True)

    @classmethod
    async def load(cls, conn: AsyncConnection) -> Held:
        held = cls()
        async with conn.begin():
            held.units = {u["code"]: u for u in await figures.units(conn, None)}
            held.counts = await counters.all_counters(conn)
            held.digests = await published.digests(conn)
        return held

    def add(self, counts: dict[tuple[str, str], int]) -> None:
        for (unit, metric), n in counts.items():
            self.counts.setdefault(unit, {})[metric] = n

    async def learn_units(self, conn: AsyncConnection, codes: set[str]) -> None:
        if codes:
            self.units.update((u["code"], u) for u in await figures.units(conn, sorted(codes)))

    def codes_by_path(self) -> list[str]:
        return sorted(self.units, key=lambda c: self.units[c]["path"])

    def forget_readers_before(self, oldest: str) -> None:
        for counts in self.counts.values():
            for metric in [m for m in counts if m.startswith("readers:") and m < oldest]:
                del counts[metric]


async def turn_day(conn: AsyncConnection, held: Held, today: date) -> None:
    """A new Hanoi day (or a new publisher): the figures last published on each
    earlier day go into the history, and reader counts no figure looks at any
    more are dropped."""
    await held.flush_now(conn)
    async with conn.begin():
        await history.keep_days_before(conn, datetime.combine(today, time(0), HANOI))
        await counters.prune_readers(conn, today)
    held.forget_readers_before(oldest_reader_day(today))


async def announce(conn: AsyncConnection, due: list[tuple[dict[str, Any], dict[str, Any], bytes, bytes]],
                   at: datetime) -> None:
    """The RolloutSnapshot of each unit `due`, through the outbox."""
    await add_events(conn, "metrics", [
        message_from_payload(  # figures we built: no need to validate them again
            RolloutSnapshot, now, aggregate_id=u["unit_id"], committee=committee_of(u), orgunit=u["code"], at=at)
        for u, now, _, _ in due])


async def bodies_published(conn: AsyncConnection) -> list[tuple[str, bytes]]:
    async with conn.begin():
        return await published.bodies(conn)
