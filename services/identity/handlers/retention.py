"""Retention of identity's rows (docs/personal-data.md, "Retention"): a rejected registration is
deleted SOTAY_RETENTION_REJECTED_DAYS after its rejection, its consent rows kept (evidence,
append-only, naming the registration's id only), as are the decision's audit entries (ids only);
refresh tokens and password reset codes SOTAY_RETENTION_EXPIRED_DAYS after they expired, and a
client address that many days after it stopped being known (KNOWN_ADDRESS_DAYS). Each table goes
in batches, a transaction each; the counts are logged, never a value."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.adapters import retention as store
from services.identity.domain import KNOWN_ADDRESS_DAYS

log = logging.getLogger("sotay.identity.retention")


async def apply(engine: AsyncEngine, *, rejected_days: int, expired_days: int, batch: int,
                dry_run: bool = False) -> dict[str, int]:
    """Delete what is due (or, `dry_run`, count it): the count of each table."""
    terms = {"rejected": rejected_days, "expired": expired_days, "known": KNOWN_ADDRESS_DAYS}
    done = dict.fromkeys(store.DUE, 0)
    for table in store.DUE:
        if dry_run:
            async with engine.connect() as db:
                done[table] = await store.count_due(db, table, terms)
            continue
        while True:
            async with engine.begin() as db:
                n = await store.delete_due(db, table, terms, batch)
            done[table] += n
            if n < batch:
                break
    if not dry_run and any(done.values()):
        log.info("identity: retention deleted %s", done)
    return done
