"""Content: articles and their editorial workflow, the targeted feed, reads,
feedback, the documents library, cell meetings and feed import.
Publishes `sotay.content.*`; consumes `sotay.members.*` (the org tree for
audiences, where each member sits for the feed and meeting rolls)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from services.content.handlers import articles, importer
from services.content.adapters.egress import EgressPolicy
from services.content.entrypoints.events import registry_consumer
from services.content.entrypoints.http import build_router
from sotay.contracts.content import CATALOGUE
from sotay.kit.service import ServiceContext, ServiceDefinition, stop_tasks

log = logging.getLogger("sotay.content")


class Scheduler:
    """Every few seconds: publish scheduled articles whose time has come and
    poll the feeds that are due. Replicas share the work through row locks."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self._task: asyncio.Task | None = None

    async def start(self, ctx: ServiceContext) -> None:
        self._task = asyncio.create_task(self._run(ctx), name="content-scheduler")

    async def stop(self, ctx: ServiceContext) -> None:
        if self._task:
            await stop_tasks([self._task], "content")

    async def _run(self, ctx: ServiceContext) -> None:
        policy = EgressPolicy.from_settings(ctx.settings)
        while True:
            try:
                async with ctx.engine.begin() as db:
                    await articles.publish_due(db)
                await importer.poll_due(ctx.engine, policy)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database away: try again on the next round
                log.warning("content: scheduler round failed: %r", exc)
            await asyncio.sleep(self.interval_s)


def definition() -> ServiceDefinition:
    scheduler = Scheduler()
    return ServiceDefinition(
        name="content",
        migrations=Path(__file__).parent / "adapters" / "migrations",
        catalogue=CATALOGUE,
        build_router=build_router,
        build_consumers=lambda ctx: [registry_consumer()],
        on_start=scheduler.start,
        on_stop=scheduler.stop,
        description="Content (tin bài): editorial workflow, targeted feed, reads, feedback, documents, meetings, "
                    "feed import.",
    )
