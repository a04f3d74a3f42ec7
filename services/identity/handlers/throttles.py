"""What slows callers down: the sliding windows of failed sign-ins and of registrations
(domain.Throttles), and the password pool when it is full."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity.adapters import store
from services.identity.adapters.passwords import PasswordPool, PoolBusy
from services.identity.adapters.store import Db
from services.identity.domain import Attempt, Throttles, ceil_seconds, registration_key
from sotay.kit.http import Problem


def too_many(wait: float) -> Problem:
    return Problem(429, "Too many attempts", f"Try again in {ceil_seconds(wait)} seconds.",
                   retry_after=ceil_seconds(wait))


def busy(exc: PoolBusy) -> Problem:
    return Problem(503, "Busy", f"Too many sign-ins and registrations at once; try again in {exc.retry_after} "
                   "seconds.", retry_after=exc.retry_after)


async def hash_password(passwords: PasswordPool, password: str) -> str:
    """The password's hash; 503 while the pool is full."""
    try:
        return await passwords.hash(password)
    except PoolBusy as exc:
        raise busy(exc) from None


async def record_failures(db: Db, throttles: Throttles, keys: list[str]) -> None:
    await store.record_events(db, keys, keep=throttles.keep, horizon_s=throttles.horizon_s)


async def refuse_if_throttled(db: Db, throttles: Throttles, at: Attempt) -> bool:
    """Raise 429 while the attempt must wait (domain.Throttles.wait); else say whether it has
    failures of its own at this address (which its success then clears).

    A success clears only the account-at-this-address window: the account's own keeps sliding,
    so a member's sign-in does not hand the one guessing a fresh set of tries."""
    ages = await store.window_ages(db, at.failure_keys)
    wait = throttles.wait(at, ages)
    if wait > 0:
        raise too_many(wait)
    return at.pair in ages


async def clear_failures(db: Db, at: Attempt) -> None:
    """A success: the account-at-this-address window starts again."""
    await store.clear_windows(db, [at.pair])


async def registration_budget(db: Db, throttles: Throttles, address_hash: str) -> None:
    """Count a registration against its address's hourly budget, or refuse it (429): one
    address can fill neither the password pool nor the approval queue."""
    key = registration_key(address_hash)
    wait = throttles.registration_wait(address_hash, await store.window_ages(db, [key]))
    if wait > 0:
        raise too_many(wait)
    await record_failures(db, throttles, [key])


async def forget_old(db: AsyncConnection, throttles: Throttles) -> None:
    """Forget windows whose every event has left them."""
    await store.forget_old_windows(db, throttles.horizon_s)
