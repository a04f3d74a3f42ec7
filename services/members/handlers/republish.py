"""Every member's snapshot sent again (`sotay members republish`): after an upgrade that changed
what member events carry (version 2, issue 19), so that every replica holds what the new events
bring (identity's keyed hashes). Each member's version moves on, so the replicas take the new
snapshot over the one they hold; a batch a transaction, members another writer holds wait for the
next batch. The events wait in the outbox for the relay."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.adapters import registry
from services.members.handlers.members import emit_snapshot
from sotay.contracts.members import MemberUpdated
from sotay.kit.service import ServiceContext

log = logging.getLogger("sotay.members.republish")


async def _claim(db: AsyncConnection, after: Any, batch: int) -> list[Any]:
    return list((await db.execute(text(
        "UPDATE members SET version = version + 1 WHERE id IN (SELECT id FROM members "
        "WHERE (CAST(:after AS uuid) IS NULL OR id > CAST(:after AS uuid)) ORDER BY id LIMIT :n FOR UPDATE) "
        "RETURNING id"), {"after": after, "n": batch})).scalars())


async def republish(ctx: ServiceContext, *, batch: int = 500) -> int:
    """How many members' snapshots were written again, as MemberUpdated with nothing `changed`."""
    done, after = 0, None
    while True:
        async with ctx.engine.begin() as db:
            ids = sorted(await _claim(db, after, batch))
            for member_id in ids:
                await emit_snapshot(db, ctx, MemberUpdated, await registry.member_by_id(db, member_id), changed=[])
        if not ids:
            break
        done, after = done + len(ids), ids[-1]
    log.info("members: %d members' snapshots sent again", done)
    return done
