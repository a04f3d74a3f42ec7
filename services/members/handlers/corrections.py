"""Correction requests ("báo sai thông tin"): a member proposes corrections of their own
details; a registry writer over their unit, never the member concerned, accepts or rejects."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members import domain
from services.members.adapters import audit, registry
from services.members.handlers import subject_requests
from services.members.handlers.access import REGISTRY_WRITERS, Scopes, is_member_concerned, not_found
from services.members.handlers.members import apply_patch, member_for_staff, member_from_row, parse_or_422
from sotay.kit.auth import Principal
from sotay.kit.events import uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.scope import forbidden
from sotay.kit.service import ServiceContext

# A member proposes corrections of their own details; what the party decided about them (their
# card, cell and standing, their eligibility to use the app and their admission dates) changes
# only through the registry's writers.
NOT_CORRECTABLE = ("party_card_no", "unit", "status", "eligible", "ineligible_reason", "admitted_on", "official_on")
CORRECTABLE = tuple(f for f in domain.MEMBER_FIELDS if f not in NOT_CORRECTABLE)


def refuse_uncorrectable(changes: dict[str, Any]) -> None:
    unknown = [k for k in changes if k not in CORRECTABLE]
    if unknown:
        raise invalid([(f"changes.{k}", "cannot be corrected by a request") for k in unknown])


async def request_correction(db: AsyncConnection, actor: Principal, member_id: Any, changes: dict[str, Any],
                             note: str | None, *, today: date) -> dict:
    row = await registry.member_by_id(db, member_id)
    if row is None or actor.member_card_no != row["party_card_no"]:
        raise forbidden("A member may propose corrections of their own record only.")
    refuse_uncorrectable(changes)
    if not changes:
        raise invalid([("changes", "must propose at least one field")])
    parse_or_422(changes, today, member_from_row(row))  # refuse a proposal that could never be accepted
    request = {"id": uuid7(), "member_id": row["id"], "requested_by": actor.subject, "changes": changes,
               "note": note}
    await registry.insert_correction(db, request)
    await subject_requests.correction_asked(db, request)
    return await registry.correction_by_id(db, request["id"])


CURRENT_FIELDS = ("date_of_birth", "gender", "citizen_id", "phone")


async def list_corrections(db: AsyncConnection, actor: Principal, status: str | None) -> list[dict[str, Any]]:
    """The correction requests of members in the actor's units, each with whether its proposed
    values are shown masked and whether the actor may decide it (audited, one row per read)."""
    scopes = await Scopes.of(db, actor)
    if not scopes.readable:
        raise forbidden()
    items = await registry.list_corrections(db, scopes=scopes.readable, status=status, member_id=None)
    for item in items:
        item["masked"] = scopes.masked(item.pop("unit_path"))
        # What the record says now of each field the request would change (shown beside it).
        record = {field: item.pop(field) for field in CURRENT_FIELDS}
        record["full_name"] = item["full_name"]
        item["current"] = {field: record.get(field) for field in item["changes"]}
        item["can_decide"] = (not item["masked"] and item["status"] == "pending"
                              and not is_member_concerned(actor, item, item["requested_by"]))
    if items:
        await audit.audit_read(db, scopes.reader(actor), "corrections", list({i["member_id"] for i in items}),
                               masked=all(i["masked"] for i in items), purpose="correction_review")
    return items


async def own_corrections(db: AsyncConnection, actor: Principal) -> list[dict[str, Any]]:
    """The signed-in member's own correction requests and how each was decided, oldest first
    (audited as a read of their corrections). Only the caller's own record: the card in their
    token names it, nothing the caller sends does."""
    if not actor.member_card_no:
        raise forbidden("This token does not belong to a member.")
    member_id = await registry.member_id_by_card(db, actor.member_card_no)
    if member_id is None:
        raise not_found("member")
    items = await registry.list_corrections(db, scopes=["/"], status=None, member_id=member_id)
    for item in items:
        item.pop("unit_path")
        for field in CURRENT_FIELDS:
            item.pop(field)
        item["decided_by"] = None  # which staff account decided is not the member's to know
    if items:
        await audit.audit_read(db, domain.Reader(actor.subject, "member", None, actor.member_card_no),
                               "corrections", [member_id], masked=False, purpose="self")
    return items


async def decide_correction(db: AsyncConnection, ctx: ServiceContext, actor: Principal, request_id: Any,
                            *, accept: bool, reason: str | None, today: date) -> dict:
    """A registry writer over the member's unit decides; never the member concerned, whatever
    their roles (they would approve their own change)."""
    request = await registry.correction_by_id(db, request_id, lock=True)
    if request is None:
        raise not_found("correction request")
    row = await member_for_staff(db, actor, request["member_id"], REGISTRY_WRITERS, lock=True)
    if is_member_concerned(actor, row, request["requested_by"]):
        raise forbidden("A correction of your own record is decided by another registry writer.")
    if request["status"] != "pending":
        raise Problem(409, "Already decided", f"This request was {request['status']}.")
    if not accept and not reason:
        raise invalid([("reason", "is required to reject a request")])
    if accept:
        refuse_uncorrectable(request["changes"])  # asked before these fields were closed to requests
        await apply_patch(db, ctx, actor.subject, row, request["changes"], today=today,
                           reason=reason or "correction request accepted",
                           correction_request_id=str(request["id"]))
    await registry.decide_correction(db, request["id"], status="accepted" if accept else "rejected",
                                     actor=actor.subject, reason=reason)
    await subject_requests.correction_decided(db, request["id"], actor.subject, accepted=accept, reason=reason)
    return await registry.correction_by_id(db, request["id"])
