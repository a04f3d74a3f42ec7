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
from sotay.service import ServiceContext, ServiceDefinition, stop_tasks

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
            await stop_tasks([self._task], "metrics")

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
            targets = await figures.ancestors_of(db, units)
            current = await figures.of_units(db, list(targets.values()), today)
            published = {r.unit: r.figures for r in await db.execute(text(
                "SELECT unit, figures FROM published WHERE unit = ANY(:u)"), {"u": list(targets)})}
            for code in targets:
                if published.get(code) != orjson.loads(orjson.dumps(current[code])):
                    changed.append(current[code])
            if changed:
                # The whole round in three statements, however many units changed.
                codes = [f["unit_code"] for f in changed]
                bodies = [orjson.dumps(f).decode() for f in changed]
                await db.execute(text(
                    "INSERT INTO published (unit, figures) SELECT unnest(CAST(:u AS text[])), "
                    "unnest(CAST(:f AS jsonb[])) ON CONFLICT (unit) DO UPDATE SET figures = EXCLUDED.figures, "
                    "published_at = now()"), {"u": codes, "f": bodies})
                await db.execute(text(
                    "INSERT INTO unit_daily (unit, day, figures) SELECT unnest(CAST(:u AS text[])), :d, "
                    "unnest(CAST(:f AS jsonb[])) ON CONFLICT (unit, day) DO UPDATE SET figures = EXCLUDED.figures"),
                    {"u": codes, "d": today, "f": bodies})
                await add_events(db, "metrics", [make_message(
                    RolloutSnapshot(**f), aggregate_id=targets[f["unit_code"]]["unit_id"],
                    committee=targets[f["unit_code"]]["committee"], orgunit=f["unit_code"]) for f in changed])
        await asyncio.gather(*(self._kv.put(f["unit_code"], orjson.dumps(f)) for f in changed))
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
