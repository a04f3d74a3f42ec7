"""Retention of the registry (docs/personal-data.md, "Retention"): a member who died, was removed
or transferred out more than SOTAY_RETENTION_LEFT_YEARS ago is minimised. Their citizen ID, phone
and date of birth (sealed) and the keyed hashes searched by are dropped, and so is what their
correction requests proposed of them; the membership facts the unit's statistics and the Party's
registry keep (card number, name, gender, unit, standing, admission dates) stay. The change is a
history entry, and a MemberUpdated snapshot with those fields empty, so that identity's replica
drops them too and a registration can no longer be matched to the person; and the member's event
key is destroyed, so the keyed hashes of those values in every event sent before open no more
(sotay/kit/member_keys.py).

History entries are an audit trail (append-only): the values they sealed stay under their data
key, readable by registry writers only; they go when that key is destroyed, not before.

Since when a member left: their last status change, or their entry into the registry when they
entered it already gone (an import)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.adapters import registry
from services.members.adapters import retention as store
from services.members.handlers.members import emit_snapshot
from sotay.contracts.members import MemberUpdated
from sotay.kit.service import ServiceContext

log = logging.getLogger("sotay.members.retention")

ACTOR = "system:retention"
DROPPED = ["citizen_id", "date_of_birth", "phone"]


async def due(db: AsyncConnection, years: int) -> dict[str, int]:
    """What a run would minimise now: members, and their correction requests holding sealed values."""
    return await store.count_due(db, years)


async def minimise(ctx: ServiceContext, *, years: int, batch: int, dry_run: bool = False) -> dict[str, int]:
    """Minimise the members due, `batch` a transaction (rows another writer holds wait for the next
    run); the counts, logged without any value."""
    if dry_run:
        async with ctx.engine.connect() as db:
            return await due(db, years)
    done = {"members": 0, "correction_requests": 0}
    while True:
        async with ctx.engine.begin() as db:
            ids = await store.claim_due(db, years, batch)
            if not ids:
                break
            done["correction_requests"] += await _minimise(db, ctx, ids, years)
            done["members"] += len(ids)
    if done["members"]:
        log.info("members: retention minimised %d members (left over %d years ago) and %d correction requests",
                 done["members"], years, done["correction_requests"])
    return done


async def _minimise(db: AsyncConnection, ctx: ServiceContext, ids: list[Any], years: int) -> int:
    requests = await store.drop_identifiers(db, ids)
    for member_id in ids:
        await registry.add_history(db, member_id, ACTOR, "minimised", {"dropped": DROPPED},
                                   f"retention: left more than {years} years ago")
        # Crypto-shredding: every event sent before carried the keyed hashes of what was dropped,
        # sealed under this key; with it destroyed, no copy of them opens any more. The snapshot
        # below is sealed under a new key (card and name only: the hashes are gone).
        await ctx.member_keys.destroy(str(member_id))
        row = await registry.member_by_id(db, member_id)
        await emit_snapshot(db, ctx, MemberUpdated, row, changed=DROPPED)
    return requests
