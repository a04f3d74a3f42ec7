"""Metrics: rollout projections rolled up the org tree, training records and
the metrics stream. Consumes `sotay.members.*`, `sotay.identity.*` and
`sotay.content.*`; publishes `sotay.metrics.*` (`RolloutSnapshot` on
`sotay.metrics.rollout.<committee>`, the latest per unit also in the
key-value bucket `sotay_rollout`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import orjson
from nats.js.api import KeyValueConfig
from sqlalchemy import text

from services.metrics import figures
from services.metrics.entrypoints.events import consumers
from services.metrics.entrypoints.http import build_router
from services.metrics.events import CATALOGUE, RolloutSnapshot
from sotay.clock import hanoi_day
from sotay.events import make_message
from sotay.outbox import add_events
from sotay.service import ServiceContext, ServiceDefinition

log = logging.getLogger("sotay.metrics")

ROLLOUT_BUCKET = "sotay_rollout"


class SnapshotPublisher:
    """Coalesces changes into snapshots: handlers mark the units whose own
    counters moved; every `interval_s` the figures of those units and every
    unit above them are recomputed, and those that changed are published
    (outbox → `sotay.metrics.rollout.<committee>`) and put in `sotay_rollout`.
    A burst of events thus gives at most 1/interval_s snapshots per unit."""

    def __init__(self, interval_s: float = 0.4) -> None:
        self.interval_s = interval_s
        self.dirty: set[str] = set()
        self._task: asyncio.Task | None = None
        self._kv = None

    def touched(self, unit: str) -> None:
        self.dirty.add(unit)

    async def start(self, ctx: ServiceContext) -> None:
        self._kv = await ctx.js.create_key_value(KeyValueConfig(bucket=ROLLOUT_BUCKET, history=1,
                                                                replicas=ctx.settings.stream_replicas))
        self._task = asyncio.create_task(self._run(ctx), name="metrics-snapshots")

    async def stop(self, ctx: ServiceContext) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self, ctx: ServiceContext) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            if not self.dirty:
                continue
            batch, self.dirty = self.dirty, set()
            try:
                await self.publish(ctx, batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: keep the units for the next round
                self.dirty |= batch
                log.warning("metrics: snapshots failed: %r", exc)

    async def publish(self, ctx: ServiceContext, units: set[str]) -> int:
        today = hanoi_day()
        async with ctx.engine.begin() as db:
            changed: list[dict[str, Any]] = []
            for u in (await figures.ancestors_of(db, units)).values():
                now = await figures.of_unit(db, u, today)
                before = (await db.execute(text("SELECT figures FROM published WHERE unit = :u"),
                                           {"u": u["code"]})).scalar()
                if before == orjson.loads(orjson.dumps(now)):
                    continue
                await db.execute(text(
                    "INSERT INTO published (unit, figures) VALUES (:u, CAST(:f AS jsonb)) "
                    "ON CONFLICT (unit) DO UPDATE SET figures = EXCLUDED.figures, published_at = now()"),
                    {"u": u["code"], "f": orjson.dumps(now).decode()})
                await db.execute(text(
                    "INSERT INTO unit_daily (unit, day, figures) VALUES (:u, :d, CAST(:f AS jsonb)) "
                    "ON CONFLICT (unit, day) DO UPDATE SET figures = EXCLUDED.figures"),
                    {"u": u["code"], "d": today, "f": orjson.dumps(now).decode()})
                await add_events(db, "metrics", [make_message(
                    RolloutSnapshot(**now), aggregate_id=u["unit_id"], committee=u["committee"], orgunit=u["code"])])
                changed.append(now)
        for now in changed:
            await self._kv.put(now["unit_code"], orjson.dumps(now))
        return len(changed)


def definition() -> ServiceDefinition:
    publisher = SnapshotPublisher()
    return ServiceDefinition(
        name="metrics",
        migrations=Path(__file__).parent / "adapters" / "migrations",
        catalogue=CATALOGUE,
        build_router=lambda ctx: build_router(ctx, publisher),
        build_consumers=lambda ctx: consumers(publisher.touched),
        on_start=publisher.start,
        on_stop=publisher.stop,
        description="Metrics (số liệu triển khai): rollout figures per unit rolled up the org tree, training, "
                    "the metrics stream.",
    )
