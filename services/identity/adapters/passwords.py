"""argon2id password hashing on a bounded pool of threads: argon2-cffi
releases the GIL while hashing, so the event loop keeps serving, and the
semaphore keeps a burst of sign-ins from queueing unbounded memory-hard work."""

from __future__ import annotations

import asyncio
import os
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum for argon2id: m = 19 MiB, t = 2, p = 1.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


class PasswordPool:
    def __init__(self, workers: int | None = None, queue_limit: int = 256) -> None:
        self.workers = workers or max(1, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="argon2")
        self._slots = asyncio.Semaphore(self.workers + queue_limit)
        # A hash to verify against when there is no account, so a missing
        # account costs the same time as a wrong password.
        self.dummy_hash = HASHER.hash("not-a-password-of-anyone")

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(self._pool, HASHER.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        async with self._slots:
            return await asyncio.get_running_loop().run_in_executor(
                self._pool, _verify, password_hash or self.dummy_hash, password, password_hash is not None)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _verify(password_hash: str, password: str, real: bool) -> bool:
    try:
        return HASHER.verify(password_hash, password) and real
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
