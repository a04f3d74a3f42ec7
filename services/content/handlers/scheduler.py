"""Content's scheduler: every few seconds, publish the scheduled articles whose time has come
and poll the feeds that are due. One replica at a time does it (the leader loop, kit/leader.py);
the rows it takes are claimed all the same (SKIP LOCKED), so a replica taking over never repeats
a step. The lock is held on one of the service's pool connections (each replica stays within its
21), which publishes the due articles; the leader loop closes it rather than hand it back locked."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.adapters.egress import EgressPolicy
from services.content.handlers import articles, importer
from sotay.kit.leader import Leader
from sotay.kit.service import ServiceContext, stop_tasks

LEADER = "scheduler:content"  # the advisory lock the scheduling replica holds


class Scheduler:
    """Run by the service runtime (definition's on_start and on_stop)."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self.leader: Leader | None = None
        self._task: asyncio.Task | None = None

    async def start(self, ctx: ServiceContext) -> None:
        self.leader = Leader(LEADER, ctx.engine.connect, wait_s=self.interval_s)
        policy = EgressPolicy.from_settings(ctx.settings)

        async def rounds(conn: AsyncConnection) -> None:
            while True:
                await articles.publish_due(conn)
                await conn.commit()
                await importer.poll_due(ctx.engine, policy)
                await asyncio.sleep(self.interval_s)

        self._task = asyncio.create_task(self.leader.run(rounds), name="content-scheduler")

    async def stop(self, ctx: ServiceContext) -> None:
        if self._task:
            await stop_tasks([self._task], "content")
