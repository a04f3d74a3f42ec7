"""A member's access request, the registry's part: their record as the registry holds it, its
history, their correction and data-subject requests, their yearly reviews, and who read their
record: when, in which role and unit, what and why (the staff person's own account and name stay
out, of the reads and of the history: the unit answers for them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.adapters import audit, registry
from services.members.handlers import corrections, members, reviews, subject_requests
from sotay.kit.auth import Principal

MAX_READS = 10_000
READ_FIELDS = ("at", "actor_role", "actor_unit_name", "what", "purpose", "masked")


async def held(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    """Everything about the caller (each part's read audited as theirs, as their own reads are)."""
    record = await members.read_own_record(db, actor)
    reads = await audit.reads_of(db, scopes=["/"], member_ids=[record["id"]], account=None, since=None, until=None,
                                 limit=MAX_READS)
    return {"service": "members", "parts": {
        "record": [record],
        "history": [{k: v for k, v in change.items() if k != "actor"} for change in await registry.history(db, record["id"])],
        "corrections": await corrections.own_corrections(db, actor),
        "requests": await subject_requests.own(db, actor),
        "reviews": [{k: v for k, v in r.items() if k != "stage"} for r in await reviews.own(db, actor)],
        "reads_of_your_record": [{k: r[k] for k in READ_FIELDS} for r in reads],
    }}
