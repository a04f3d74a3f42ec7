"""Retention of identity's rows (docs/personal-data.md, "Retention"): a rejected registration is
deleted SOTAY_RETENTION_REJECTED_DAYS after its rejection, its consent rows kept (evidence,
append-only, naming the registration's id only), as are the decision's audit entries (ids only);
refresh tokens and password reset codes SOTAY_RETENTION_EXPIRED_DAYS after they expired, and a
client address that many days after it stopped being known (KNOWN_ADDRESS_DAYS). Each table goes
in batches, a transaction each; the counts are logged, never a value."""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity.domain import KNOWN_ADDRESS_DAYS

log = logging.getLogger("sotay.identity.retention")

# Each table's rows due, their clock compared with the settings' terms.
_DUE = {
    "registrations": "status = 'rejected' AND decided_at < now() - make_interval(days => CAST(:rejected AS int))",
    "refresh_tokens": "expires_at < now() - make_interval(days => CAST(:expired AS int))",
    "password_reset_codes": "expires_at < now() - make_interval(days => CAST(:expired AS int))",
    "known_addresses": "last_ok_at < now() - make_interval(days => CAST(:expired AS int) + CAST(:known AS int))",
}


async def apply(engine: AsyncEngine, *, rejected_days: int, expired_days: int, batch: int,
                dry_run: bool = False) -> dict[str, int]:
    """Delete what is due (or, `dry_run`, count it): the count of each table."""
    params = {"rejected": rejected_days, "expired": expired_days, "known": KNOWN_ADDRESS_DAYS, "n": batch}
    done = dict.fromkeys(_DUE, 0)
    for table, where in _DUE.items():
        if dry_run:
            async with engine.connect() as db:
                done[table] = (await db.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)).scalar_one()
            continue
        while True:
            async with engine.begin() as db:
                n = (await db.execute(text(
                    f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {where} "
                    "LIMIT :n FOR UPDATE SKIP LOCKED))"), params)).rowcount
            done[table] += n
            if n < batch:
                break
    if not dry_run and any(done.values()):
        log.info("identity: retention deleted %s", done)
    return done
