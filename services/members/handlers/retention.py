"""Retention of the registry (docs/personal-data.md, "Retention"): a member who died, was removed
or transferred out more than SOTAY_RETENTION_LEFT_YEARS ago is minimised. Their citizen ID, phone
and date of birth (sealed) and the keyed hashes searched by are dropped, and so is what their
correction requests proposed of them; the membership facts the unit's statistics and the Party's
registry keep (card number, name, gender, unit, standing, admission dates) stay. The change is a
history entry, and a MemberUpdated snapshot with those fields empty, so that identity's replica
drops them too and a registration can no longer be matched to the person.

History entries are an audit trail (append-only): the values they sealed stay under their data
key, readable by registry writers only; they go when that key is destroyed, not before.

Since when a member left: their last status change, or their entry into the registry when they
entered it already gone (an import)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.adapters import registry
from services.members.handlers.members import emit_snapshot
from sotay.contracts.members import MemberUpdated
from sotay.kit.service import ServiceContext

log = logging.getLogger("sotay.members.retention")

ACTOR = "system:retention"
DROPPED = ["citizen_id", "date_of_birth", "phone"]
_DUE = (
    "FROM members m WHERE m.status IN ('deceased', 'removed', 'transferred_out') "
    "AND (m.sealed IS NOT NULL OR m.citizen_id_hash IS NOT NULL OR m.phone_hash IS NOT NULL) "
    "AND coalesce((SELECT max(h.at) FROM member_history h WHERE h.member_id = m.id AND h.action = 'status_changed'), "
    "m.created_at) < now() - make_interval(years => CAST(:years AS int))")


async def due(db: AsyncConnection, years: int) -> dict[str, int]:
    """What a run would minimise now: members, and their correction requests holding sealed values."""
    members = (await db.execute(text(f"SELECT count(*) {_DUE}"), {"years": years})).scalar_one()
    requests = (await db.execute(text(
        f"SELECT count(*) FROM correction_requests WHERE sealed IS NOT NULL AND member_id IN (SELECT m.id {_DUE})"),
        {"years": years})).scalar_one()
    return {"members": members, "correction_requests": requests}


async def minimise(ctx: ServiceContext, *, years: int, batch: int, dry_run: bool = False) -> dict[str, int]:
    """Minimise the members due, `batch` a transaction (rows another writer holds wait for the next
    run); the counts, logged without any value."""
    if dry_run:
        async with ctx.engine.connect() as db:
            return await due(db, years)
    done = {"members": 0, "correction_requests": 0}
    while True:
        async with ctx.engine.begin() as db:
            ids = (await db.execute(text(
                f"SELECT m.id {_DUE} ORDER BY m.id LIMIT :n FOR UPDATE OF m SKIP LOCKED"),
                {"years": years, "n": batch})).scalars().all()
            if not ids:
                break
            done["correction_requests"] += await _minimise(db, ctx, list(ids), years)
            done["members"] += len(ids)
    if done["members"]:
        log.info("members: retention minimised %d members (left over %d years ago) and %d correction requests",
                 done["members"], years, done["correction_requests"])
    return done


async def _minimise(db: AsyncConnection, ctx: ServiceContext, ids: list[Any], years: int) -> int:
    await db.execute(text(
        "UPDATE members SET sealed = NULL, citizen_id_hash = NULL, phone_hash = NULL, citizen_id = NULL, "
        "phone = NULL, date_of_birth = NULL, version = version + 1, updated_at = now() WHERE id = ANY(:ids)"),
        {"ids": ids})
    requests = (await db.execute(text(
        "UPDATE correction_requests SET sealed = NULL WHERE member_id = ANY(:ids) AND sealed IS NOT NULL"),
        {"ids": ids})).rowcount
    for member_id in ids:
        await registry.add_history(db, member_id, ACTOR, "minimised", {"dropped": DROPPED},
                                   f"retention: left more than {years} years ago")
        row = await registry.member_by_id(db, member_id)
        await emit_snapshot(db, ctx, MemberUpdated, row, changed=DROPPED)
    return requests
