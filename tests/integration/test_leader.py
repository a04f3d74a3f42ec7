"""The kit's leader loop (sotay/kit/leader.py) against a real PostgreSQL: one replica
works at a time, the other takes over when the leader's connection ends, and a
failing leader lets the lock go and tries again."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import text

from sotay.kit.db import create_engine
from sotay.kit.leader import Leader
from tests.support.system import eventually


async def test_one_leads_the_other_takes_over_when_it_stops(database_url):
    engine = create_engine(database_url, "public", pooled=False)
    working: list[str] = []

    def work_of(name: str):
        async def work(conn):
            working.append(name)
            await asyncio.Event().wait()  # works until cancelled
        return work

    first, second = (Leader("test:one-at-a-time", engine.connect, wait_s=0.1) for _ in range(2))
    a = asyncio.create_task(first.run(work_of("first")))
    await eventually(lambda: first.is_leader, 5)
    b = asyncio.create_task(second.run(work_of("second")))
    try:
        await asyncio.sleep(0.5)  # five of the second's tries for the lock
        assert (first.is_leader, second.is_leader, working) == (True, False, ["first"])
        a.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await a
        await eventually(lambda: second.is_leader, 5)
        assert working == ["first", "second"] and not first.is_leader
    finally:
        for task in (a, b):
            task.cancel()
        await asyncio.gather(a, b, return_exceptions=True)
        await engine.dispose()


async def test_a_leader_whose_work_fails_lets_the_lock_go_and_tries_again(database_url, caplog):
    engine = create_engine(database_url, "public", pooled=False)
    rounds: list[int] = []
    other = Leader("test:failing", engine.connect, wait_s=0.05)

    async def failing(conn):
        rounds.append(await conn.scalar(text("SELECT pg_backend_pid()")))
        raise RuntimeError("NATS away")

    leader = Leader("test:failing", engine.connect, wait_s=0.05)
    task = asyncio.create_task(leader.run(failing))
    try:
        await eventually(lambda: len(rounds) >= 2, 10)
        assert rounds[0] != rounds[1]  # the failed round's connection was closed, with its lock
        assert "test:failing stopped: RuntimeError('NATS away'); again in 0.5 s" in caplog.text
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    # Nothing holds the lock now: another replica gets it at once.
    took: list[bool] = []

    async def takes(conn):
        took.append(True)
        await asyncio.Event().wait()
    task = asyncio.create_task(other.run(takes))
    try:
        await eventually(lambda: took, 5)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await engine.dispose()
