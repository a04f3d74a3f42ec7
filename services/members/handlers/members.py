"""Use cases of the member registry. Each runs inside the caller's
transaction, checks the actor's scope, changes the tables and writes its
events to the outbox in that same transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members import domain
from services.members.adapters import registry
from sotay.contracts.members import (
    MemberRegistered, MemberSnapshot, MemberStatusChanged, MemberTransferred, MemberUpdated, OrgUnitCreated,
    OrgUnitUpdated,
)
from sotay.kit.auth import Principal
from sotay.kit.db import path_codes, unique_violation
from sotay.kit.events import CITY, make_message, uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import add_events
from sotay.kit.service import ServiceContext

SCHEMA = "members"
REGISTRY_WRITERS = ("unit_admin", "city_admin")
REGISTRY_READERS = ("unit_admin", "city_admin", "cell_secretary")
PARENT_KIND = {"committee": "city", "grassroots": "committee", "cell": "grassroots"}


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"No such {what}.")


def forbidden() -> Problem:
    return Problem(403, "Forbidden", "This is outside the units your roles cover.")


# --- scope --------------------------------------------------------------------


async def scope_paths(db: AsyncConnection, principal: Principal, roles: tuple[str, ...]) -> list[str]:
    units = await registry.units_by_codes(db, principal.units_for(*roles))
    return [u["path"] for u in units.values()]


async def covers(db: AsyncConnection, principal: Principal, path: str, roles: tuple[str, ...]) -> bool:
    return any(path.startswith(scope) for scope in await scope_paths(db, principal, roles))


async def require_scope(db: AsyncConnection, principal: Principal, path: str, roles: tuple[str, ...]) -> None:
    if not await covers(db, principal, path, roles):
        raise forbidden()


class Scopes:
    """The subtrees an actor reads and writes in, looked up once for a request that shows
    several members: a registry writer over a member sees their identifiers in clear, a
    reader only (a cell secretary) sees them masked (domain.mask_value)."""

    def __init__(self, readable: list[str], writable: list[str]) -> None:
        self.readable, self.writable = readable, writable

    @classmethod
    async def of(cls, db: AsyncConnection, actor: Principal) -> Scopes:
        units = await registry.units_by_codes(db, actor.units_for(*REGISTRY_READERS))
        paths = {role: [units[g.unit]["path"] for g in actor.grants if g.role == role and g.unit in units]
                 for role in REGISTRY_READERS}
        return cls(readable=[p for role in REGISTRY_READERS for p in paths[role]],
                   writable=[p for role in REGISTRY_WRITERS for p in paths[role]])

    def reads(self, path: str) -> bool:
        return any(path.startswith(scope) for scope in self.readable)

    def masked(self, path: str) -> bool:
        """Whether a member at `path` is shown masked (a 403 when no role covers it)."""
        if any(path.startswith(scope) for scope in self.writable):
            return False
        if self.reads(path):
            return True
        raise forbidden()


def is_member_concerned(actor: Principal, member: dict[str, Any], requested_by: str | None = None) -> bool:
    """Whether the actor is the member a record or a request is about: by the card in their
    token, or (a staff account without a card) by being the account that asked."""
    return actor.member_card_no == member["party_card_no"] or (requested_by is not None
                                                              and actor.subject == requested_by)


# --- org tree -----------------------------------------------------------------


async def create_org_unit(db: AsyncConnection, ctx: ServiceContext, actor: Principal, data: dict[str, Any]) -> dict:
    code, kind, parent_code = data["code"], data["kind"], data.get("parent")
    errors = []
    if not domain.UNIT_CODE_RE.match(code):
        errors.append(("code", "must be 1 to 40 lowercase letters, digits or hyphens"))
    if kind == "city":
        if parent_code:
            errors.append(("parent", "must be empty for the city"))
    elif not parent_code:
        errors.append(("parent", "is required"))
    if errors:
        raise invalid(errors)
    parent = None
    if kind != "city":
        parent = await registry.unit_by_code(db, parent_code)
        if parent is None:
            raise invalid([("parent", "is not a unit of the registry")])
        if parent["kind"] != PARENT_KIND[kind]:
            raise invalid([("parent", f"a {kind} belongs to a {PARENT_KIND[kind]}, not a {parent['kind']}")])
        if parent["closed_at"] is not None:
            raise invalid([("parent", "is closed")])
        await require_scope(db, actor, parent["path"], REGISTRY_WRITERS)
    elif "city" not in actor.units_for("city_admin"):
        raise forbidden()
    if await registry.unit_by_code(db, code):
        raise invalid([("code", "is already used by another unit")])
    path = (parent["path"] if parent else "/") + code + "/"
    committee = code if kind == "committee" else parent["committee"] if parent else CITY
    unit = {"id": uuid7(), "code": code, "name": data["name"], "kind": kind,
            "parent_id": parent["id"] if parent else None, "committee": committee, "path": path,
            "wave": data.get("wave")}
    await registry.insert_unit(db, unit)
    event = OrgUnitCreated(unit_id=str(unit["id"]), code=code, name=unit["name"], kind=kind, parent=parent_code,
                           committee=committee, path=path_codes(path), wave=unit["wave"])
    await add_events(db, SCHEMA, [make_message(event, aggregate_id=str(unit["id"]), committee=committee,
                                               orgunit=code, sequence=1)])
    return await registry.unit_by_code(db, code)


async def update_org_unit(db: AsyncConnection, ctx: ServiceContext, actor: Principal, code: str,
                          changes: dict[str, Any]) -> dict:
    unit = await registry.unit_by_code(db, code, lock=True)
    if unit is None:
        raise not_found("unit")
    await require_scope(db, actor, unit["path"], REGISTRY_WRITERS)
    closed = changes.get("closed")
    if closed is None:  # not given, or given as null: as it is
        closed = unit["closed_at"] is not None
    if closed and unit["closed_at"] is None:
        if await registry.open_children(db, unit["id"]):
            raise invalid([("closed", "the unit still has open units under it")])
        if await registry.members_in_unit(db, unit["id"]):
            raise invalid([("closed", "the unit still has members; transfer them first")])
    name = changes.get("name") or unit["name"]
    wave = changes["wave"] if "wave" in changes else unit["wave"]
    version = await registry.update_unit(db, unit["id"], name=name, wave=wave, closed=closed)
    event = OrgUnitUpdated(unit_id=str(unit["id"]), code=code, name=name, wave=wave, closed=closed)
    await add_events(db, SCHEMA, [make_message(event, aggregate_id=str(unit["id"]), committee=unit["committee"],
                                               orgunit=code, sequence=version)])
    return await registry.unit_by_code(db, code)


# --- members ------------------------------------------------------------------


def member_from_row(row: dict[str, Any]) -> domain.Member:
    return domain.Member(**{f.name: row[f.name] for f in dataclasses.fields(domain.Member)})


async def _emit(db: AsyncConnection, ctx: ServiceContext, event_type: type[MemberSnapshot], row: dict[str, Any],
                **extra: Any) -> None:
    payload = domain.member_snapshot(member_from_row(row), member_id=row["id"], unit_path=row["unit_path"],
                              pii_hash=ctx.pii_hash)
    event = event_type(**payload, **extra)
    await add_events(db, SCHEMA, [make_message(event, aggregate_id=str(row["id"]), committee=row["committee"],
                                               orgunit=row["unit"], sequence=row["version"])])


def parse_or_422(raw: dict[str, Any], today: date, current: domain.Member | None = None) -> domain.Member:
    try:
        if current is None:
            return domain.parse_member(raw, today=today)
        return domain.parse_member_patch(raw, current=current, today=today)
    except domain.InvalidInput as exc:
        raise invalid([(e.field, e.reason) for e in exc.errors]) from None


async def _cell(db: AsyncConnection, code: str, field: str = "unit") -> dict[str, Any]:
    unit = await registry.unit_by_code(db, code)
    if unit is None or unit["kind"] != "cell":
        raise invalid([(field, "is not a party cell of the registry")])
    if unit["closed_at"] is not None:
        raise invalid([(field, "is a closed cell")])
    return unit


async def create_member(db: AsyncConnection, ctx: ServiceContext, actor: Principal, raw: dict[str, Any],
                        *, today: date) -> dict:
    member = parse_or_422(raw, today)
    cell = await _cell(db, member.unit)
    await require_scope(db, actor, cell["path"], REGISTRY_WRITERS)
    if found := await registry.conflicts(db, member.party_card_no, member.citizen_id):
        raise already_in_registry(found)
    member_id = uuid7()
    await unless_taken(registry.insert_member(db, {**dataclasses.asdict(member), "id": member_id,
                                                   "name_folded": domain.fold(member.full_name),
                                                   "unit_id": cell["id"], "unit_path": cell["path"]}))
    await registry.add_history(db, member_id, actor.subject, "created", domain.member_to_row(member))
    row = await registry.member_by_id(db, member_id)
    await _emit(db, ctx, MemberRegistered, row, source="api")
    return row


def already_in_registry(found: list[tuple[str, str]]) -> Problem:
    return Problem(409, "Already in the registry", "Another member has the same identifiers.",
                   errors=[{"field": f, "reason": r} for f, r in found])


# The registry's unique identifiers, by the constraint that keeps them unique, and what a clerk is told.
TAKEN = {"members_party_card_no_key": ("party_card_no", "is already in the registry"),
         "members_citizen_id_key": ("citizen_id", "belongs to another member")}


async def unless_taken(write: Awaitable[Any]) -> Any:
    """The write, or the 409 `registry.conflicts` gives, when a request running alongside took
    the card number or the citizen ID between that check and this write (a unique violation,
    which would otherwise be a 500 and a traceback)."""
    try:
        return await write
    except IntegrityError as exc:
        taken = TAKEN.get(unique_violation(exc) or "")
        if taken is None:
            raise
        raise already_in_registry([taken]) from None


async def member_for_staff(db: AsyncConnection, actor: Principal, member_id: Any, roles=REGISTRY_WRITERS,
                           *, lock: bool = False) -> dict[str, Any]:
    row = await registry.member_by_id(db, member_id, lock=lock)
    if row is None:
        raise not_found("member")
    await require_scope(db, actor, row["unit_path"], roles)
    return row


async def read_member(db: AsyncConnection, actor: Principal, member_id: Any) -> tuple[dict[str, Any], bool]:
    """A member's full record, and whether it is shown masked: to the member themself (a self
    read), to a registry writer of their unit in clear, to a reader (a cell secretary) masked.
    Every read is audited."""
    row = await registry.member_by_id(db, member_id)
    if row is None:
        raise not_found("member")
    if is_member_concerned(actor, row):
        await registry.audit_read(db, actor.subject, "self", [row["id"]], masked=False)
        return row, False
    masked = (await Scopes.of(db, actor)).masked(row["unit_path"])
    await registry.audit_read(db, actor.subject, "record", [row["id"]], masked=masked)
    return row, masked


async def read_own_record(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    """The signed-in member's own record (audited as a self read)."""
    if not actor.member_card_no:
        raise Problem(403, "Forbidden", "This token does not belong to a member.")
    member_id = await registry.member_id_by_card(db, actor.member_card_no)
    row = await registry.member_by_id(db, member_id) if member_id else None
    if row is None:
        raise not_found("member")
    await registry.audit_read(db, actor.subject, "self", [row["id"]], masked=False)
    return row


async def read_history(db: AsyncConnection, actor: Principal, member_id: Any) -> tuple[list[dict[str, Any]], bool]:
    """Who changed what of a member, when and why, for staff of their unit, and whether the
    values are shown masked (audited)."""
    row = await registry.member_by_id(db, member_id)
    if row is None:
        raise not_found("member")
    masked = (await Scopes.of(db, actor)).masked(row["unit_path"])
    items = await registry.history(db, row["id"])
    await registry.audit_read(db, actor.subject, "history", [row["id"]], masked=masked)
    return items, masked


async def update_member(db: AsyncConnection, ctx: ServiceContext, actor: Principal, member_id: Any,
                        patch: dict[str, Any], *, today: date, reason: str | None = None,
                        correction_request_id: str | None = None) -> dict:
    row = await member_for_staff(db, actor, member_id, lock=True)
    return await _apply_patch(db, ctx, actor.subject, row, patch, today=today, reason=reason,
                              correction_request_id=correction_request_id)


async def _apply_patch(db: AsyncConnection, ctx: ServiceContext, actor: str, row: dict[str, Any],
                       patch: dict[str, Any], *, today: date, reason: str | None,
                       correction_request_id: str | None = None) -> dict:
    for moved in ("unit", "status"):
        if moved in patch and patch[moved] != row[moved]:
            raise invalid([(moved, "changes through a transfer or a status change, not an edit")])
    current = member_from_row(row)
    updated = parse_or_422(patch, today, current)
    before, after = domain.member_to_row(current), domain.member_to_row(updated)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return row
    if "citizen_id" in changed and (found := await registry.conflicts(db, updated.party_card_no,
                                                                       updated.citizen_id, row["id"])):
        raise already_in_registry(found)
    fields = {k: getattr(updated, k) for k in changed}
    if "full_name" in fields:
        fields["name_folded"] = domain.fold(updated.full_name)
    await unless_taken(registry.update_member(db, row["id"], fields))
    await registry.add_history(db, row["id"], actor, "updated",
                               {k: {"from": before[k], "to": after[k]} for k in changed}, reason)
    row = await registry.member_by_id(db, row["id"])
    await _emit(db, ctx, MemberUpdated, row, changed=changed, correction_request_id=correction_request_id)
    return row


async def transfer_member(db: AsyncConnection, ctx: ServiceContext, actor: Principal, member_id: Any,
                          to_unit: str, kind: str, reason: str | None) -> dict:
    """Chuyển sinh hoạt: an official transfer moves the member; a temporary one
    records where they attend while their home cell stays."""
    row = await member_for_staff(db, actor, member_id, lock=True)
    if row["status"] not in domain.ACTIVE_STANDING:
        raise invalid([("member", f"a member who is {row['status']} cannot be transferred")])
    target = await _cell(db, to_unit, "to_unit")
    if not await covers(db, actor, target["path"], REGISTRY_WRITERS):
        # Between committees, the city's organisation board moves a member (Ban Tổ chức Thành ủy).
        raise Problem(403, "Forbidden", "The destination cell is outside the units you administer: "
                                        "a transfer to another committee is made by the city.")
    if to_unit == row["unit"] and kind == "official":
        raise invalid([("to_unit", "is the member's current cell")])
    if kind == "official":
        fields = {"unit_id": target["id"], "unit_path": target["path"], "temporary_unit_id": None}
    else:
        fields = {"temporary_unit_id": target["id"]}
    await registry.update_member(db, row["id"], fields)
    await registry.add_history(db, row["id"], actor.subject, f"transferred_{kind}",
                               {"from": row["unit"], "to": to_unit}, reason)
    updated = await registry.member_by_id(db, row["id"])
    await _emit(db, ctx, MemberTransferred, updated, from_unit=row["unit"], from_committee=row["committee"],
                transfer_kind=kind, reason=reason)
    return updated


async def change_status(db: AsyncConnection, ctx: ServiceContext, actor: Principal, member_id: Any,
                        status: str, *, eligible: bool | None, ineligible_reason: str | None,
                        reason: str | None, today: date) -> dict:
    row = await member_for_staff(db, actor, member_id, lock=True)
    if status not in domain.STATUSES:
        raise invalid([("status", f"must be one of {', '.join(domain.STATUSES)}")])
    leaving = status not in domain.ACTIVE_STANDING
    if eligible is None:
        eligible = False if leaving else row["eligible"]
    if leaving and ineligible_reason is None and not eligible:
        ineligible_reason = status.replace("_", " ")
    current = member_from_row(row)
    updated = parse_or_422({"status": status, "eligible": eligible,
                            "ineligible_reason": None if eligible else ineligible_reason}, today, current)
    if (updated.status, updated.eligible, updated.ineligible_reason) == (row["status"], row["eligible"],
                                                                          row["ineligible_reason"]):
        return row
    await registry.update_member(db, row["id"], {"status": updated.status, "eligible": updated.eligible,
                                                 "ineligible_reason": updated.ineligible_reason})
    await registry.add_history(db, row["id"], actor.subject, "status_changed",
                               {"status": {"from": row["status"], "to": status},
                                "eligible": {"from": row["eligible"], "to": updated.eligible}}, reason)
    new_row = await registry.member_by_id(db, row["id"])
    await _emit(db, ctx, MemberStatusChanged, new_row, from_status=row["status"], reason=reason)
    return new_row


# --- correction requests ("báo sai thông tin") ------------------------------------

# A member proposes corrections of their own details; what the party decided about them (their
# card, cell and standing, their eligibility to use the app and their admission dates) changes
# only through the registry's writers.
NOT_CORRECTABLE = ("party_card_no", "unit", "status", "eligible", "ineligible_reason", "admitted_on", "official_on")
CORRECTABLE = tuple(f for f in domain.MEMBER_FIELDS if f not in NOT_CORRECTABLE)


def _not_correctable(changes: dict[str, Any]) -> None:
    unknown = [k for k in changes if k not in CORRECTABLE]
    if unknown:
        raise invalid([(f"changes.{k}", "cannot be corrected by a request") for k in unknown])


async def request_correction(db: AsyncConnection, actor: Principal, member_id: Any, changes: dict[str, Any],
                             note: str | None, *, today: date) -> dict:
    row = await registry.member_by_id(db, member_id)
    if row is None or actor.member_card_no != row["party_card_no"]:
        raise Problem(403, "Forbidden", "A member may propose corrections of their own record only.")
    _not_correctable(changes)
    if not changes:
        raise invalid([("changes", "must propose at least one field")])
    parse_or_422(changes, today, member_from_row(row))  # refuse a proposal that could never be accepted
    request = {"id": uuid7(), "member_id": row["id"], "requested_by": actor.subject, "changes": changes,
               "note": note}
    await registry.insert_correction(db, request)
    return await registry.correction_by_id(db, request["id"])


async def list_corrections(db: AsyncConnection, actor: Principal, status: str | None) -> list[dict[str, Any]]:
    """The correction requests of members in the actor's units, each with whether its proposed
    values are shown masked and whether the actor may decide it (audited, one row per read)."""
    scopes = await Scopes.of(db, actor)
    if not scopes.readable:
        raise forbidden()
    items = await registry.list_corrections(db, scopes=scopes.readable, status=status, member_id=None)
    for item in items:
        item["masked"] = scopes.masked(item.pop("unit_path"))
        item["can_decide"] = (not item["masked"] and item["status"] == "pending"
                              and not is_member_concerned(actor, item, item["requested_by"]))
    if items:
        await registry.audit_read(db, actor.subject, "corrections", list({i["member_id"] for i in items}),
                                  masked=all(i["masked"] for i in items))
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
        raise Problem(403, "Forbidden", "A correction of your own record is decided by another registry writer.")
    if request["status"] != "pending":
        raise Problem(409, "Already decided", f"This request was {request['status']}.")
    if not accept and not reason:
        raise invalid([("reason", "is required to reject a request")])
    if accept:
        _not_correctable(request["changes"])  # asked before these fields were closed to requests
        await _apply_patch(db, ctx, actor.subject, row, request["changes"], today=today,
                           reason=reason or "correction request accepted",
                           correction_request_id=str(request["id"]))
    await registry.decide_correction(db, request["id"], status="accepted" if accept else "rejected",
                                     actor=actor.subject, reason=reason)
    return await registry.correction_by_id(db, request["id"])
