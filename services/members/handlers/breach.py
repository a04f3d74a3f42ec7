"""Breach readiness (docs/breach-runbook.md): who read which members' records, when and why,
for the organisation board and the authority's notification; and the unusual reads flagged to
the operator.

- The access history answers, for members (by id or card number) and/or a staff account, over a
  period, one row per read and member. Registry writers over the members' units ask it (the
  organisation board: unit admins, the city); reading it is itself a read, audited.
- A full record is a member's record opened with the identifiers in clear (GET /members/{id} by a
  registry writer): what a stolen staff session or a script would harvest. Masked reads (a cell
  secretary's), one's own record, a record's history and correction lists are audited but not
  counted; searches are neither (they show no identifier). A staff account that opens more than
  SOTAY_UNUSUAL_READS_PER_HOUR of them within an hour raises an UnusualRecordReads alert, once
  an hour at most, for the city's operators, who close it with what they found.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members import domain
from services.members.adapters import audit, registry
from services.members.handlers.access import ORG, REGISTRY_WRITERS, Scopes, not_found
from sotay.contracts.members import UnusualRecordReads
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import covers, forbidden

log = logging.getLogger("sotay.members.breach")

# The operators of the whole system: they see and close the alerts.
OPERATORS = ("city_admin",)


class UnusualReads:
    """The unusual-read check on the read path: a counter an account a minute, summed over the
    hour, in the audit row's own statement (adapters/audit.py); past the threshold, the alert."""

    def __init__(self, per_hour: int) -> None:
        self.per_hour = per_hour

    async def full_read(self, db: AsyncConnection, reader: domain.Reader, member_id: Any) -> None:
        """Audit a full record shown in clear to a staff account, and raise the alert when the
        account has opened more than the threshold within the hour."""
        reads = await audit.audit_full_read(db, reader, member_id)
        if reads > self.per_hour:
            await self.alert(db, reader, reads)

    async def alert(self, db: AsyncConnection, reader: domain.Reader, reads: int) -> None:
        alert_id = uuid7()
        raised = await audit.raise_unusual_reads(db, alert_id, reader, reads, self.per_hour)
        if raised is None:
            return  # raised within the hour already
        log.warning("unusual reads: account %s opened %d full member records within an hour (threshold %d)",
                    reader.account, reads, self.per_hour)
        await emit(db, registry.SCHEMA, UnusualRecordReads(
            alert_id=str(alert_id), account_id=reader.account, reads=reads, threshold=self.per_hour,
            window_start=raised["window_start"], window_end=raised["raised_at"]),
            aggregate_id=alert_id, committee=None, unit=None)


# --- the access history --------------------------------------------------------------------------

# The most reads one answer holds (the file for the authority: one row per read and member).
MAX_EXPORT_ROWS = 100_000


async def access_history(db: AsyncConnection, actor: Principal, *, member_ids: list[Any], card_nos: list[str],
                         account: str | None, since: datetime | None, until: datetime | None, limit: int,
                         reason: str | None, purpose: str = "access_review") -> dict[str, Any]:
    """Who read the records of the members asked for (by id or card number) and/or what
    `account` read, from `since` up to `until`, for a registry writer over those members: the
    members, the reads (one row per read and member, oldest first, at most `limit`, `truncated`
    when there were more). Every member asked for must be in the caller's units (else 404, each
    named: one outside them and one unknown look alike). Audited as a read of the access history
    of the members it shows."""
    scopes = await Scopes.of(db, actor)
    if not scopes.writable:
        raise forbidden()
    if not (member_ids or card_nos or account):
        raise invalid([("member_ids", "name members (member_ids or party_card_nos), or an account")])
    if since and until and since >= until:
        raise invalid([("until", "must be after since")])
    cards = []
    for i, card in enumerate(card_nos):
        normalised = domain.normalised_or_none(domain.normalise_card_no, card)
        if normalised is None:
            raise invalid([(f"party_card_nos.{i}", "must be 8 to 12 digits")])
        cards.append(normalised)
    asked = await audit.members_asked(db, member_ids, cards) if member_ids or cards else []
    found = [m for m in asked if covers(scopes.writable, m["unit_path"])]
    missing = ([(f"member_ids.{i}", "is not a member of your units") for i, m in enumerate(member_ids)
                if str(m) not in {str(f["id"]) for f in found}]
               + [(f"party_card_nos.{i}", "is not a member of your units") for i, c in enumerate(cards)
                  if c not in {f["party_card_no"] for f in found}])
    if missing:
        raise Problem(404, "Not found", "Some of the members asked for are not in your units.",
                      errors=[{"field": f, "reason": r} for f, r in missing])
    reads = await audit.reads_of(db, scopes=scopes.writable, member_ids=[m["id"] for m in found] if found else None,
                                 account=account, since=since, until=until, limit=limit + 1)
    truncated = len(reads) > limit
    reads = reads[:limit]
    if not found:  # an account's reads: the members they concern
        found = await audit.members_asked(db, sorted({r["member_id"] for r in reads}, key=str), [])
    if found:
        await audit.audit_read(db, scopes.reader(actor, found[0]["unit_path"] if len(found) == 1 else None),
                               "reads", [m["id"] for m in found], masked=False, purpose=purpose, reason=reason)
    return {"members": found, "reads": reads, "truncated": truncated}


async def member_reads(db: AsyncConnection, actor: Principal, member_id: Any, *, since: datetime | None,
                       until: datetime | None, limit: int) -> dict[str, Any]:
    """One member's access history (404 unknown, 403 outside the caller's units)."""
    row = await registry.member_by_id(db, member_id)
    if row is None:
        raise not_found("member")
    await ORG.require(db, actor, row["unit_path"], REGISTRY_WRITERS)
    return await access_history(db, actor, member_ids=[row["id"]], card_nos=[], account=None, since=since,
                                until=until, limit=limit, reason=None)


# --- alerts ----------------------------------------------------------------------------------------


def require_operator(actor: Principal) -> None:
    if not actor.units_for(*OPERATORS):
        raise forbidden("Unusual-read alerts are for the city's operators.")


async def list_alerts(db: AsyncConnection, actor: Principal, *, open_only: bool) -> list[dict[str, Any]]:
    require_operator(actor)
    return [window(a) for a in await audit.alerts(db, open_only=open_only, limit=200)]


async def close_alert(db: AsyncConnection, actor: Principal, alert_id: Any, note: str) -> dict[str, Any]:
    """An operator closes an alert, saying what they found (the account's owner asked, a
    session ended, a breach notified…)."""
    require_operator(actor)
    alert = await audit.alert_by_id(db, alert_id, lock=True)
    if alert is None:
        raise not_found("alert")
    if alert["closed_at"] is not None:
        raise Problem(409, "Already closed", "This alert was closed already.")
    await audit.close_alert(db, alert_id, actor=actor.subject, note=note)
    return window(await audit.alert_by_id(db, alert_id))


def window(alert: dict[str, Any]) -> dict[str, Any]:
    """An alert with the end of the hour it counted (its raising)."""
    return {**alert, "window_end": alert["raised_at"]}
