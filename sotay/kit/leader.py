"""One replica at a time: the leader loop.

Work that must run on one replica only (a schema's outbox relay, metrics'
snapshot publisher, content's scheduler) runs under a PostgreSQL session
advisory lock, held on the connection the work is given. The other replicas
poll for the lock and take over within `wait_s` of the leader's connection
ending. When the work fails (the database or NATS away), its connection is
closed, not handed back to a pool, so the lock goes with it; the loop tries
again after a backoff that doubles up to `max_backoff_s`.

    leader = Leader("relay:members", engine.connect, wait_s=1.0)
    await leader.run(work)          # work(conn) runs while the lock is held
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.db import database_error_text, lock_key

log = logging.getLogger("sotay.leader")


class Leader:
    """Runs `work(conn)` while this replica holds the lock `name` (see the module doc)."""

    def __init__(self, name: str, connect: Callable[[], AbstractAsyncContextManager[AsyncConnection]], *,
                 wait_s: float = 1.0, max_backoff_s: float = 10.0) -> None:
        self.name = name
        self.key = lock_key(name)
        self.connect = connect
        self.wait_s = wait_s
        self.max_backoff_s = max_backoff_s
        self.is_leader = False
        # Set by stop(): run returns once `work` returns (the work sees it too) or, not leading, at once.
        self.stopping = False

    def stop(self) -> None:
        self.stopping = True

    async def run(self, work: Callable[[AsyncConnection], Awaitable[None]]) -> None:
        """Until cancelled: wait for the lock, run `work` (which should run until
        cancelled), and after a failure start again."""
        backoff = 0.5
        while not self.stopping:
            try:
                async with self.connect() as conn:
                    try:
                        if not await self._wait_for_the_lock(conn):
                            return  # stopped while waiting
                        self.is_leader = True
                        backoff = 0.5
                        await work(conn)
                    finally:
                        self.is_leader = False
                        # The lock is the session's: the connection is closed, not given back to a pool.
                        with contextlib.suppress(Exception):
                            await asyncio.shield(conn.invalidate())
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an outage: the work waits in its tables
                # A database error is told without its DETAIL, which would quote a row's values.
                told = database_error_text(exc) or repr(exc)
                log.warning("%s stopped: %s; again in %.1f s", self.name, told, backoff)
                if self.stopping:
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def _wait_for_the_lock(self, conn: AsyncConnection) -> bool:
        """True once the lock is held; False when stopped first."""
        while not self.stopping:
            held = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})).scalar()
            await conn.commit()  # the session lock outlives the transaction; nothing stays open
            if held:
                return True
            await asyncio.sleep(self.wait_s)
        return False


class Periodic:
    """`job()` at start and then every `interval_s`, on one replica at a time (a Leader named
    `name`): housekeeping such as retention, which must not run twice at once. The lock's
    connection only holds the lead; the job takes its own. A failed run waits for the next."""

    def __init__(self, name: str, connect: Callable[[], AbstractAsyncContextManager[AsyncConnection]],
                 interval_s: float, job: Callable[[], Awaitable[object]], *, wait_s: float = 10.0) -> None:
        self.leader = Leader(name, connect, wait_s=wait_s)
        self.interval_s = interval_s
        self.job = job
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.leader.run(self._rounds), name=self.leader.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _rounds(self, conn: AsyncConnection) -> None:
        while True:
            try:
                await self.job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("%s failed: %s; again in %.0f s", self.leader.name,
                            database_error_text(exc) or repr(exc), self.interval_s)
            await asyncio.sleep(self.interval_s)
