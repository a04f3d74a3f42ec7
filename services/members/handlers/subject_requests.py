"""Data-subject requests (Law 91/2025/QH15, Decree 356/2025/NĐ-CP): a member asks their unit to
correct their data, restrict or object to a processing, erase data, or something else, in their own
words. The unit acknowledges within 2 working days and completes or refuses within 15 days, once
extendable by up to 15 days with a reason (workdays.py); what it decided is told to the member in
plain words. Registry writers over the member's unit act, never the member concerned; those over
the units above see their subtree's overdue requests. A correction request is an entry too
(kind 'correction', linked by correction_id): deciding the correction decides the entry."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.adapters import audit, registry, requests
from services.members.handlers.access import (
    ORG,
    REGISTRY_WRITERS,
    Scopes,
    is_member_concerned,
    not_found,
)
from sotay.kit import workdays
from sotay.contracts.members import SubjectRequestEscalated, SubjectRequestSettled
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import forbidden
from sotay.kit.service import ServiceContext

KINDS = ("correction", "restriction", "objection", "erasure", "other")
STAFF_ONLY = ("requested_by", "acknowledged_by", "decided_by")  # which accounts acted is not the member's to know


async def ask(db: AsyncConnection, actor: Principal, kind: str, asked: str) -> dict[str, Any]:
    """The signed-in member's request, with its deadlines (the card in their token names them)."""
    member_id = await own_member_id(db, actor)
    if not asked.strip():
        raise invalid([("asked", "is required: what you ask, in your own words")])
    request_id = uuid7()
    await insert(db, request_id, member_id, actor.subject, kind, asked.strip())
    return mine(await requests.by_id(db, request_id, today=hanoi_day()))


async def insert(db: AsyncConnection, request_id: Any, member_id: Any, requested_by: str, kind: str, asked: str,
                 correction_id: Any = None) -> None:
    acknowledge_by, due_by = workdays.deadlines(hanoi_day())
    await requests.insert(db, {"id": request_id, "member_id": member_id, "requested_by": requested_by,
                               "kind": kind, "asked": asked, "correction_id": correction_id,
                               "acknowledge_by": acknowledge_by, "due_by": due_by})


async def correction_asked(db: AsyncConnection, correction: dict[str, Any]) -> None:
    """A correction request enters the ledger with the same deadlines as any other request."""
    asked = correction["note"] or ", ".join(correction["changes"])
    await insert(db, uuid7(), correction["member_id"], correction["requested_by"], "correction", asked,
                 correction_id=correction["id"])


async def correction_decided(db: AsyncConnection, correction_id: Any, actor: str, *, accepted: bool,
                             reason: str | None) -> None:
    request_id = await requests.id_of_correction(db, correction_id)
    if request_id is None:  # asked before the ledger existed
        return
    outcome = "Đã sửa hồ sơ theo đề nghị của đồng chí." + (f" {reason}" if reason else "") if accepted else reason
    await requests.decide(db, request_id, status="completed" if accepted else "refused", outcome=outcome,
                          actor=actor)
    await _settled(db, request_id)


async def own(db: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    member_id = await own_member_id(db, actor)
    return [mine(r) for r in await requests.listed(db, scopes=["/"], member_id=member_id, open_only=False,
                                                   overdue=False, today=hanoi_day())]


async def staff_list(db: AsyncConnection, actor: Principal, *, open_only: bool, overdue: bool) -> list[dict[str, Any]]:
    """The requests of members in the actor's units; `overdue` only those past a deadline."""
    scopes = await ORG.scoped(db, actor, REGISTRY_WRITERS)
    items = await requests.listed(db, scopes=scopes, member_id=None, open_only=open_only, overdue=overdue,
                                  today=hanoi_day())
    if items:  # names, cards and the members' own words: audited as a correction list is
        await audit.audit_read(db, (await Scopes.of(db, actor)).reader(actor), "requests",
                               list({i["member_id"] for i in items}), masked=False, purpose="request_review")
    return [as_seen_by(actor, item) for item in items]


def as_seen_by(actor: Principal, request: dict[str, Any]) -> dict[str, Any]:
    """A request with whether the staff `actor` may still act on it."""
    request["can_act"] = (request["status"] in requests.OPEN
                          and not is_member_concerned(actor, request, request["requested_by"]))
    return request


async def reread(db: AsyncConnection, actor: Principal, request_id: Any) -> dict[str, Any]:
    return as_seen_by(actor, await requests.by_id(db, request_id, today=hanoi_day()))


async def acknowledge(db: AsyncConnection, actor: Principal, request_id: Any) -> dict[str, Any]:
    request = await for_staff(db, actor, request_id)
    if request["status"] != "received":
        raise Problem(409, "Already acknowledged", f"This request is {request['status']}.")
    await requests.acknowledge(db, request_id, actor.subject)
    return await reread(db, actor, request_id)


async def extend(db: AsyncConnection, actor: Principal, request_id: Any, days: int, reason: str) -> dict[str, Any]:
    """Once, by at most 15 days, with the reason the member is told."""
    request = await for_staff(db, actor, request_id)
    if request["extended_to"] is not None:
        raise Problem(409, "Already extended", "A request's deadline is extended once only.")
    if not 1 <= days <= workdays.MAX_EXTENSION_DAYS:
        raise invalid([("days", f"must be between 1 and {workdays.MAX_EXTENSION_DAYS}")])
    if not reason.strip():
        raise invalid([("reason", "is required to extend a deadline")])
    await requests.extend(db, request_id, to=request["due_by"] + timedelta(days=days), reason=reason.strip(),
                          actor=actor.subject)
    return await reread(db, actor, request_id)


async def decide(db: AsyncConnection, actor: Principal, request_id: Any, *, complete: bool,
                 outcome: str) -> dict[str, Any]:
    """Complete (what was done) or refuse (why not): in plain words, for the member."""
    request = await for_staff(db, actor, request_id)
    if request["correction_id"] is not None:
        raise Problem(409, "Decided as a correction", "Accept or reject the correction request itself.")
    field = "outcome" if complete else "reason"
    if not outcome.strip():
        raise invalid([(field, "is required: what was done, in plain words to the member" if complete else
                        "is required: why not, in plain words to the member")])
    await requests.decide(db, request_id, status="completed" if complete else "refused", outcome=outcome.strip(),
                          actor=actor.subject)
    await _settled(db, request_id)
    return await reread(db, actor, request_id)


async def for_staff(db: AsyncConnection, actor: Principal, request_id: Any) -> dict[str, Any]:
    """An open request the actor may act on: a registry writer over the member's unit who is not
    the member concerned."""
    request = await requests.by_id(db, request_id, today=hanoi_day(), lock=True)
    if request is None:
        raise not_found("request")
    await ORG.require(db, actor, request["unit_path"], REGISTRY_WRITERS)
    if is_member_concerned(actor, request, request["requested_by"]):
        raise forbidden("A request about your own data is answered by another registry writer.")
    if request["status"] not in requests.OPEN:
        raise Problem(409, "Already decided", f"This request was {request['status']}.")
    return request


async def own_member_id(db: AsyncConnection, actor: Principal) -> Any:
    if not actor.member_card_no:
        raise forbidden("This token does not belong to a member.")
    member_id = await registry.member_id_by_card(db, actor.member_card_no)
    if member_id is None:
        raise not_found("member")
    return member_id


def mine(request: dict[str, Any]) -> dict[str, Any]:
    """A request as its member sees it."""
    return {k: v for k, v in request.items() if k not in STAFF_ONLY}


async def escalate(ctx: ServiceContext, *, batch: int = 500, today: date | None = None) -> int:
    """Every overdue open request not escalated yet goes up to the unit above its member's unit:
    marked, and SubjectRequestEscalated on that unit (a job of members, on one replica); how many.
    The units above already see their subtree's overdue requests first (GET /subject-requests)."""
    done, today = 0, today or hanoi_day()
    while True:
        async with ctx.engine.begin() as db:
            due = await requests.claim_overdue(db, today, batch)
            for r in due:
                above = r["above"] or r["unit"]
                await requests.mark_escalated(db, r["id"], above)
                since = r["acknowledge_by"] if r["status"] == "received" and r["acknowledge_by"] < today else r["due"]
                await emit(db, registry.SCHEMA, SubjectRequestEscalated(
                    request_id=str(r["id"]), unit=r["unit"], escalated_to=above, overdue_since=since),
                    aggregate_id=r["id"], committee=r["committee"], unit=above)
        done += len(due)
        if len(due) < batch:
            return done


async def _settled(db: AsyncConnection, request_id: Any) -> None:
    """An escalated request now settled: the units above stop counting it (SubjectRequestSettled)."""
    request = await requests.by_id(db, request_id, today=hanoi_day())
    if request and request["escalated_at"] is not None:
        await emit(db, registry.SCHEMA, SubjectRequestSettled(request_id=str(request_id), unit=request["unit"]),
                   aggregate_id=request_id, committee=request["committee"], unit=request["unit"])
