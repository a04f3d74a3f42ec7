"""argon2id password hashing on a bounded pool of threads: argon2-cffi releases the GIL
while hashing, so the event loop keeps serving.

The pool admits a bounded number of hashes (running and waiting); past that it refuses at
once with `PoolBusy`, which the routes answer with 503 and a Retry-After, so a flood of
registrations cannot queue unbounded memory-hard work. Registrations may take only part
of the queue, so sign-ins still get through while one is under way."""

from __future__ import annotations

import asyncio
import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# The share of the waiting room new registrations may fill; the rest is kept for sign-ins.
REGISTRATION_SHARE = 0.5


class PoolBusy(Exception):
    """Too many hashes are running or waiting: try again in `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"the password pool is full; again in {retry_after} s")
        self.retry_after = retry_after


class PasswordPool:
    def __init__(self, workers: int | None = None, queue_limit: int = 64) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.queue_limit = queue_limit
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2")
        self.admitted = 0  # running and waiting
        self._seconds_per_hash = 0.05  # a running mean, for Retry-After
        # A hash to verify against when there is no account, so a missing
        # account costs the same time as a wrong password.
        self.dummy_hash = HASHER.hash("not-a-password-of-anyone")

    async def hash(self, password: str) -> str:
        return await self._run(HASHER.hash, password, share=REGISTRATION_SHARE)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await self._run(_verify, password_hash or self.dummy_hash, password, password_hash is not None)

    async def _run(self, work, *args, share: float = 1.0):
        if self.admitted >= self.workers + int(self.queue_limit * share):
            raise PoolBusy(max(1, math.ceil(self.admitted / self.workers * self._seconds_per_hash)))
        self.admitted += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._timed, work, args)
        finally:
            self.admitted -= 1

    def _timed(self, work, args):
        started = time.perf_counter()
        try:
            return work(*args)
        finally:  # a running mean of one hash's time, for Retry-After
            self._seconds_per_hash = 0.9 * self._seconds_per_hash + 0.1 * (time.perf_counter() - started)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _verify(password_hash: str, password: str, real: bool) -> bool:
    try:
        return HASHER.verify(password_hash, password) and real
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
