"""Approval: the queue of registrations in the approver's units, and approving (one or
many) or rejecting them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity import domain
from services.identity.adapters import store
from services.identity.adapters.store import ORG
from services.identity.handlers import SCHEMA
from sotay.contracts.identity import AccountApproved, AccountRejected
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid, parse_time_cursor, time_cursor
from sotay.kit.outbox import emit
from sotay.kit.scope import covers, forbidden
from sotay.kit.service import ServiceContext


async def queue(db: AsyncConnection, actor: Principal, *, status: str | None, match: str | None,
                older_than_days: int | None, overdue: bool | None, overdue_days: int, limit: int,
                cursor: str | None, unit: str | None = None, newer_than_days: int | None = None,
                escalated: bool | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the registrations in the actor's units, oldest first, and the next page's
    cursor (None on the last). `overdue` asks for those pending past `overdue_days`; `unit`
    for those in one unit's subtree (422 for no such unit, 403 for one outside the actor's);
    `escalated` for those escalated to the unit above (or not)."""
    paths = await ORG.scoped(db, actor, domain.APPROVERS)
    if overdue:
        older_than_days = max(older_than_days or 0, overdue_days)
    unit_path = None
    if unit is not None:
        unit_path = await store.unit_path(db, unit)
        if unit_path is None:
            raise invalid([("unit", "is not a unit of the registry")])
        if not covers(paths, unit_path):
            raise forbidden()
    after = parse_time_cursor(cursor)
    rows = await store.queue(db, scopes=paths, status=status, match=match, older_than_days=older_than_days,
                             overdue_days=overdue_days, limit=limit + 1, after=after, unit_path=unit_path,
                             newer_than_days=newer_than_days, escalated=escalated)
    page, more = rows[:limit], len(rows) > limit
    return page, time_cursor(page[-1]["submitted_at"], page[-1]["id"]) if more else None


async def registration_for_approver(db: AsyncConnection, actor: Principal, reg_id: Any) -> dict[str, Any]:
    """One registration with the registry's details beside it; 403 outside the actor's units."""
    reg = await store.registration_for_approver(db, reg_id)
    if reg is None or not covers(await ORG.scope_paths(db, actor, domain.APPROVERS), reg["unit_path"]):
        raise forbidden()
    return reg


async def _pending_in_scope(db: AsyncConnection, actor: Principal, reg_id: Any) -> dict[str, Any]:
    reg = await store.registration(db, reg_id, lock=True)
    # Outside the caller's units, an existing registration and a missing one look alike.
    if reg is None or not covers(await ORG.scope_paths(db, actor, domain.APPROVERS), reg["unit_path"]):
        raise forbidden()
    if reg["status"] != "pending":
        raise Problem(409, "Already decided", f"This registration was {reg['status']}.", code="already_decided")
    return reg


async def approve(db: AsyncConnection, ctx: ServiceContext, actor: Principal, reg_id: Any,
                  *, bulk: bool = False) -> dict:
    reg = await _pending_in_scope(db, actor, reg_id)
    if reason := domain.not_approvable(reg["match_result"], bulk=bulk):
        problem = invalid([("match_result", reason)])
        problem.code = domain.refusal_code(reason)
        raise problem
    if await store.card_has_account(db, reg["party_card_no"]):
        raise Problem(409, "Already has an account", "This member already has an account.", code="has_account")
    account_id = uuid7()
    await store.insert_account(db, {
        "id": account_id, "member_id": reg["member_id"], "party_card_no": reg["party_card_no"],
        "phone": reg["phone"], "password_hash": reg["password_hash"], "platform": reg["platform"],
        "unit": reg["unit"], "unit_path": reg["unit_path"], "committee": reg["committee"],
        "registration_id": reg["id"]})
    await store.grant(db, account_id, "member", reg["unit"], actor.subject)
    await store.decide(db, reg["id"], status="approved", actor=actor.subject, reason=None)
    await store.audit(db, actor.subject, "approve_registration", str(reg["id"]),
                      details={"account_id": str(account_id), "match_result": reg["match_result"]})
    await emit(db, SCHEMA, AccountApproved(account_id=str(account_id), registration_id=str(reg["id"]),
                                           member_id=str(reg["member_id"]), unit=reg["unit"],
                                           platform=reg["platform"]),
               aggregate_id=account_id, committee=reg["committee"], unit=reg["unit"])
    return {"registration_id": str(reg["id"]), "status": "approved", "account_id": str(account_id)}


async def reject(db: AsyncConnection, ctx: ServiceContext, actor: Principal, reg_id: Any, reason: str | None) -> dict:
    if not reason or not reason.strip():
        raise invalid([("reason", "is required: the registrant sees it")])
    reg = await _pending_in_scope(db, actor, reg_id)
    await store.decide(db, reg["id"], status="rejected", actor=actor.subject, reason=reason.strip())
    await store.audit(db, actor.subject, "reject_registration", str(reg["id"]), reason.strip())
    await emit(db, SCHEMA, AccountRejected(registration_id=str(reg["id"]),
                                           member_id=str(reg["member_id"]) if reg["member_id"] else None,
                                           unit=reg["unit"], platform=reg["platform"], reason=reason.strip()),
               aggregate_id=reg["id"], committee=reg["committee"], unit=reg["unit"])
    return {"registration_id": str(reg["id"]), "status": "rejected"}


async def approve_many(db: AsyncConnection, ctx: ServiceContext, actor: Principal, reg_ids: list[Any]) -> list[dict]:
    """Bulk approval of matched registrations; each succeeds or fails on its own, a refused
    one with a stable `code` saying why (not_matched, not_approvable, has_account,
    already_decided, out_of_scope: outside the actor's units or no such registration)."""
    results = []
    for reg_id in reg_ids:
        try:
            async with db.begin_nested():
                results.append(await approve(db, ctx, actor, reg_id, bulk=True))
        except Problem as problem:
            # A refusal by its status alone says it in the approval's words.
            code = {"forbidden": "out_of_scope", "invalid": "not_approvable"}.get(problem.code, problem.code)
            results.append({"registration_id": str(reg_id), "status": "refused", "code": code,
                            "reason": problem.detail, "errors": problem.errors})
    return results
