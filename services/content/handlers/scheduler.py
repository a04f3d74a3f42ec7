"""Content's scheduler: every few seconds, publish the scheduled articles whose time has come,
poll the feeds that are due, remind cells of tomorrow's meetings and push the notices whose
time has come (handlers/notices.py). One replica at a time does it (the leader loop, kit/leader.py);
the rows it takes are claimed all the same (SKIP LOCKED), so a replica taking over never repeats
a step. The lock is held on one of the service's pool connections (each replica stays within its
21), which publishes the due articles; the leader loop closes it rather than hand it back locked."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.adapters.egress import EgressPolicy
from services.content.adapters.push import Pusher
from services.content.handlers import articles, importer, notices
from sotay.kit.leader import Leader
from sotay.kit.service import ServiceContext, stop_tasks

log = logging.getLogger("sotay.content.scheduler")
LEADER = "scheduler:content"  # the advisory lock the scheduling replica holds


async def push(ctx: ServiceContext, pusher: Pusher) -> None:
    """Push what is due; a failure waits for the next round rather than stop publishing articles."""
    try:
        await notices.push_due(ctx.engine, pusher)
    except Exception:
        log.exception("pushing notices failed; next round in a few seconds")


class Scheduler:
    """Run by the service runtime (definition's on_start and on_stop)."""

    def __init__(self, interval_s: float = 2.0) -> None:
        self.interval_s = interval_s
        self.leader: Leader | None = None
        self._task: asyncio.Task | None = None
        self.pusher: Pusher | None = None

    async def start(self, ctx: ServiceContext) -> None:
        self.leader = leader = Leader(LEADER, ctx.engine.connect, wait_s=self.interval_s)
        ctx.probes.leader("scheduler", lambda: leader.is_leader)
        policy = EgressPolicy.from_settings(ctx.settings)
        self.pusher = pusher = Pusher.from_settings(ctx.settings)
        reminder_hours = ctx.settings.meeting_reminder_hours

        async def rounds(conn: AsyncConnection) -> None:
            while True:
                await articles.publish_due(conn)
                await conn.commit()
                await importer.poll_due(ctx.engine, policy)
                await notices.remind(conn, reminder_hours)
                if pusher is not None:
                    await push(ctx, pusher)
                await asyncio.sleep(self.interval_s)

        self._task = asyncio.create_task(self.leader.run(rounds), name="content-scheduler")

    async def stop(self, ctx: ServiceContext) -> None:
        if self._task:
            await stop_tasks([self._task], "content")
        if self.pusher is not None:
            await self.pusher.close()
