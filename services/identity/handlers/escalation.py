"""Escalation (issue 20): a registration waiting at its unit longer than the approval term
(SOTAY_APPROVAL_OVERDUE_DAYS) goes up to the unit above: RegistrationEscalated on that unit's
subject, the registration marked, and the approvers above see it first in their queue. A job on one
replica (the kit's Periodic), hourly by default; each registration escalates once."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from services.identity.adapters import escalation as store
from services.identity.handlers import SCHEMA
from sotay.contracts.identity import RegistrationEscalated
from sotay.kit.db import path_codes
from sotay.kit.outbox import emit
from sotay.kit.service import ServiceContext

log = logging.getLogger("sotay.identity.escalation")


def unit_above(path: str) -> str | None:
    """The unit directly above the one at `path` (None for the city)."""
    codes = path_codes(path)
    return codes[-2] if len(codes) > 1 else None


async def escalate(ctx: ServiceContext, *, days: int, batch: int = 500) -> int:
    """Escalate every registration overdue now, `batch` a transaction; how many."""
    done = 0
    while True:
        async with ctx.engine.begin() as db:
            due = await store.claim_overdue(db, days, batch)
            for reg in due:
                above = unit_above(reg["unit_path"]) or reg["unit"]
                await store.mark_escalated(db, reg["id"], above)
                waited = (datetime.now(UTC) - reg["submitted_at"]).days
                await emit(db, SCHEMA, RegistrationEscalated(
                    registration_id=str(reg["id"]), unit=reg["unit"], escalated_to=above,
                    submitted_at=reg["submitted_at"], waited_days=waited),
                    aggregate_id=reg["id"], committee=reg["committee"], unit=above)
        done += len(due)
        if len(due) < batch:
            break
    if done:
        log.info("identity: %d registrations escalated to the unit above (waiting over %d days)", done, days)
    return done
