"""Member records: registration, reads (audited, masked for readers who are not registry
writers), search, edits, transfers and standing. Each use case runs inside the caller's
transaction, checks the actor's scope, changes the tables and writes its event to the outbox
in that same transaction."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members import domain
from services.members.adapters import audit, registry
from services.members.handlers.access import (
    ORG, REGISTRY_READERS, REGISTRY_WRITERS, Scopes, is_member_concerned, not_found, self_reader,
)
from services.members.handlers import subject_requests
from services.members.handlers.breach import UnusualReads
from sotay.contracts.members import (
    MemberRegistered, MemberSnapshot, MemberStatusChanged, MemberTransferred, MemberUpdated,
)
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.db import unique_violation
from sotay.kit.events import CITY, Message, make_message, uuid7
from sotay.kit.member_keys import seal_personal
from sotay.kit.http import Problem, decode_cursor, encode_cursor, invalid
from sotay.kit.outbox import add_events
from sotay.kit.scope import forbidden
from sotay.kit.service import ServiceContext


def member_from_row(row: dict[str, Any]) -> domain.Member:
    return domain.Member(**{f.name: row[f.name] for f in dataclasses.fields(domain.Member)})


async def emit_snapshot(db: AsyncConnection, ctx: ServiceContext, event_type: type[MemberSnapshot],
                        row: dict[str, Any], **extra: Any) -> None:
    """Write `event_type`, the member's snapshot as `row` has it now and `extra`, to the outbox."""
    await add_events(db, registry.SCHEMA, [await snapshot_message(ctx, event_type, row, **extra)])


async def snapshot_message(ctx: ServiceContext, event_type: type[MemberSnapshot], row: dict[str, Any],
                           **extra: Any) -> Message:
    """The event `event_type` of the member as `row` has it, with `extra`: the person sealed under
    the member's key (made, and put in sotay_member_keys, before the event can be published: a
    replica never waits for a key), or nothing of them while their data is restricted."""
    member = member_from_row(row)
    restricted = row.get("restricted_at") is not None
    personal = None
    if not restricted:
        key = await ctx.member_keys.key_for(str(row["id"]))
        personal = seal_personal(key, str(row["id"]), domain.member_personal(member, pii_hash=ctx.pii_hash))
    payload = domain.member_snapshot(member, member_id=row["id"], unit_path=row["unit_path"],
                                     temporary_unit=row.get("temporary_unit"), temporary_until=row.get("temporary_until"))
    return make_message(event_type(**payload, restricted=restricted, personal=personal, **extra),
                        aggregate_id=str(row["id"]), committee=row["committee"] or CITY, orgunit=row["unit"],
                        sequence=row["version"])


def parse_or_422(raw: dict[str, Any], today: date, current: domain.Member | None = None) -> domain.Member:
    try:
        if current is None:
            return domain.parse_member(raw, today=today)
        return domain.parse_member_patch(raw, current=current, today=today)
    except domain.InvalidInput as exc:
        raise invalid([(e.field, e.reason) for e in exc.errors]) from None


async def open_cell(db: AsyncConnection, code: str, field: str = "unit") -> dict[str, Any]:
    return check_open_cell(await registry.unit_by_code(db, code), field)


async def create_member(db: AsyncConnection, ctx: ServiceContext, actor: Principal, raw: dict[str, Any],
                        *, today: date, source: str = "api", reason: str | None = None) -> dict:
    member = parse_or_422(raw, today)
    cell = await open_cell(db, member.unit)
    await ORG.require(db, actor, cell["path"], REGISTRY_WRITERS)
    if found := await registry.conflicts(db, member.party_card_no, member.citizen_id):
        raise already_in_registry(found)
    member_id = uuid7()
    await unless_taken(registry.insert_member(db, {**dataclasses.asdict(member), "id": member_id,
                                                   "name_folded": domain.fold(member.full_name),
                                                   "unit_id": cell["id"], "unit_path": cell["path"]}))
    await registry.add_history(db, member_id, actor.subject, "created", domain.member_to_row(member), reason)
    row = await registry.member_by_id(db, member_id)
    await emit_snapshot(db, ctx, MemberRegistered, row, source=source)
    return row


def already_in_registry(found: list[tuple[str, str]]) -> Problem:
    return Problem(409, "Already in the registry", "Another member has the same identifiers.",
                   errors=[{"field": f, "reason": r} for f, r in found])


# The registry's unique identifiers, by the constraint that keeps them unique, and what a clerk is told.
TAKEN = {"members_party_card_no_key": ("party_card_no", "is already in the registry"),
         "members_citizen_id_hash_key": ("citizen_id", "belongs to another member")}


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
    await ORG.require(db, actor, row["unit_path"], roles)
    return row


async def read_member(db: AsyncConnection, actor: Principal, member_id: Any,
                      unusual: UnusualReads) -> tuple[dict[str, Any], bool]:
    """A member's full record, and whether it is shown masked: to the member themself (a self
    read), to a registry writer of their unit in clear, to a reader (a cell secretary) masked.
    Every read is audited; a full record shown in clear to staff is also counted towards the
    unusual-read check."""
    row = await registry.member_by_id(db, member_id)
    if row is None:
        raise not_found("member")
    if is_member_concerned(actor, row):
        await audit.audit_read(db, self_reader(actor, row), "self", [row["id"]], masked=False, purpose="self")
        return row, False
    scopes = await Scopes.of(db, actor)
    masked = scopes.masked(row["unit_path"])
    reader = scopes.reader(actor, row["unit_path"])
    if masked:
        await audit.audit_read(db, reader, "record", [row["id"]], masked=True, purpose="registry")
    else:
        await unusual.full_read(db, reader, row["id"])
    return row, masked


async def search_members(db: AsyncConnection, actor: Principal, q: str | None, unit: str | None,
                         cursor: str | None, limit: int, *, phones: bool) -> tuple[list[dict[str, Any]], str | None]:
    """A page of members in the actor's units matching `q` (domain.interpret_query), inside
    `unit` if given, in (unit_path, id) order, and the cursor of the next page (None when none
    follows)."""
    found = await Scopes.of(db, actor)
    scopes = found.readable
    if not scopes:
        scopes = await ORG.scoped(db, actor, REGISTRY_READERS)  # refuses, saying which roles may search
    unit_path = None
    if unit:
        target = await registry.unit_by_code(db, unit)
        if target is None:
            raise invalid([("unit", "is not a unit of the registry")])
        unit_path = target["path"]
    card_no, phone, folded = domain.interpret_query(q, phones=phones)
    after = tuple(decode_cursor(cursor, 2)) if cursor else None
    rows = await registry.search_members(db, scopes=scopes, q_folded=folded, card_no=card_no, phone=phone,
                                         unit_path=unit_path, limit=limit + 1, after=after)
    page = rows[:limit]
    if page:  # what a page shows of members (names, cards, dates of birth) is audited, as any read
        await audit.audit_read(db, found.reader(actor), "search", [m["id"] for m in page],
                               masked=False, purpose="registry")
    return page, encode_cursor(page[-1]["unit_path"], str(page[-1]["id"])) if len(rows) > limit else None


async def read_own_record(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    """The signed-in member's own record (audited as a self read)."""
    if not actor.member_card_no:
        raise forbidden("This token does not belong to a member.")
    member_id = await registry.member_id_by_card(db, actor.member_card_no)
    row = await registry.member_by_id(db, member_id) if member_id else None
    if row is None:
        raise not_found("member")
    await audit.audit_read(db, self_reader(actor, row), "self", [row["id"]], masked=False, purpose="self")
    return row


async def read_history(db: AsyncConnection, actor: Principal, member_id: Any) -> tuple[list[dict[str, Any]], bool]:
    """Who changed what of a member, when and why, for staff of their unit, and whether the
    values are shown masked (audited)."""
    row = await registry.member_by_id(db, member_id)
    if row is None:
        raise not_found("member")
    scopes = await Scopes.of(db, actor)
    masked = scopes.masked(row["unit_path"])
    items = await registry.history(db, row["id"])
    await audit.audit_read(db, scopes.reader(actor, row["unit_path"]), "history", [row["id"]], masked=masked,
                           purpose="registry")
    return items, masked


async def update_member(db: AsyncConnection, ctx: ServiceContext, actor: Principal, member_id: Any,
                        patch: dict[str, Any], *, today: date, reason: str | None = None,
                        correction_request_id: str | None = None) -> dict:
    row = await member_for_staff(db, actor, member_id, lock=True)
    return await apply_patch(db, ctx, actor.subject, row, patch, today=today, reason=reason,
                              correction_request_id=correction_request_id)


@dataclasses.dataclass(frozen=True)
class Change:
    """What a use case does to a member, decided from the row it read (the rules, no I/O): the
    columns it sets (sealed values in clear: the registry seals them), what the record shows
    after it (the keys of `registry.member_by_id`), its history entry and its event."""
    columns: dict[str, Any]
    shown: dict[str, Any]
    action: str
    history: dict[str, Any]
    event: type[MemberSnapshot]
    extra: dict[str, Any]


async def write_change(db: AsyncConnection, ctx: ServiceContext, actor: str, row: dict[str, Any], change: Change,
                       reason: str | None) -> dict:
    """A change made: the row updated, the history entry and the event written; the row after."""
    await unless_taken(registry.update_member(db, row["id"], change.columns))
    await registry.add_history(db, row["id"], actor, change.action, change.history, reason)
    updated = await registry.member_by_id(db, row["id"])
    await emit_snapshot(db, ctx, change.event, updated, **change.extra)
    return updated


def patch_change(row: dict[str, Any], patch: dict[str, Any], *, today: date,
                 correction_request_id: str | None = None) -> Change | None:
    """An edit of a member's fields (not their cell or standing); None when it changes nothing.
    The caller checks a new citizen ID against the registry (`registry.conflicts`)."""
    for moved in ("unit", "status"):
        if moved in patch and patch[moved] != row[moved]:
            raise invalid([(moved, "changes through a transfer or a status change, not an edit")])
    current = member_from_row(row)
    updated = parse_or_422(patch, today, current)
    before, after = domain.member_to_row(current), domain.member_to_row(updated)
    changed = sorted(k for k in after if after[k] != before[k])
    if not changed:
        return None
    shown = {k: getattr(updated, k) for k in changed}
    columns = dict(shown)
    if "full_name" in columns:
        columns["name_folded"] = domain.fold(updated.full_name)
    return Change(columns, shown, "updated", {k: {"from": before[k], "to": after[k]} for k in changed},
                  MemberUpdated, {"changed": changed, "correction_request_id": correction_request_id})


async def apply_patch(db: AsyncConnection, ctx: ServiceContext, actor: str, row: dict[str, Any],
                      patch: dict[str, Any], *, today: date, reason: str | None,
                      correction_request_id: str | None = None) -> dict:
    change = patch_change(row, patch, today=today, correction_request_id=correction_request_id)
    if change is None:
        return row
    if "citizen_id" in change.columns and (found := await registry.conflicts(
            db, change.columns.get("party_card_no", row["party_card_no"]), change.columns["citizen_id"], row["id"])):
        raise already_in_registry(found)
    return await write_change(db, ctx, actor, row, change, reason)


def check_transferable(row: dict[str, Any]) -> None:
    if row["status"] not in domain.ACTIVE_STANDING:
        raise invalid([("member", f"a member who is {row['status']} cannot be transferred")])


def check_open_cell(unit: dict[str, Any] | None, field: str = "unit") -> dict[str, Any]:
    """`unit` (a row of org_units, or None) as an open party cell, or the 422 naming `field`."""
    if unit is None or unit["kind"] != "cell":
        raise invalid([(field, "is not a party cell of the registry")])
    if unit["closed_at"] is not None:
        raise invalid([(field, "is a closed cell")])
    return unit


def transfer_change(row: dict[str, Any], target: dict[str, Any], kind: str, until: date | None, *,
                    today: date) -> Change:
    """Chuyển sinh hoạt to the open cell `target` (the caller checked the actor administers it)."""
    if kind == "temporary" and (until is None or until <= today):
        raise invalid([("until", "is required for a temporary transfer and must be after today")])
    if kind == "official" and until is not None:
        raise invalid([("until", "is for a temporary transfer only")])
    if target["code"] == row["unit"]:
        raise invalid([("to_unit", "is the member's current cell")])
    if kind == "official":
        columns = {"unit_id": target["id"], "unit_path": target["path"], "temporary_unit_id": None,
                   "temporary_until": None}
        shown = {"unit": target["code"], "unit_name": target["name"], "unit_path": target["path"],
                 "committee": target["committee"], "temporary_unit": None, "temporary_until": None}
    else:
        columns = {"temporary_unit_id": target["id"], "temporary_until": until}
        shown = {"temporary_unit": target["code"], "temporary_until": until}
    history = {"from": row["unit"], "to": target["code"], **({"until": until.isoformat()} if until else {})}
    return Change(columns, shown, f"transferred_{kind}", history, MemberTransferred,
                  {"from_unit": row["unit"], "from_committee": row["committee"], "transfer_kind": kind})


async def transfer_member(db: AsyncConnection, ctx: ServiceContext, actor: Principal, member_id: Any,
                          to_unit: str, kind: str, reason: str | None, until: date | None = None,
                          *, today: date | None = None) -> dict:
    """Chuyển sinh hoạt: an official transfer moves the member; a temporary one records where
    they attend until `until` (required, after today) while their home cell keeps the record."""
    row = await member_for_staff(db, actor, member_id, lock=True)
    check_transferable(row)
    target = await open_cell(db, to_unit, "to_unit")
    # Between committees, the city's organisation board moves a member (Ban Tổ chức Thành ủy).
    await ORG.require(db, actor, target["path"], REGISTRY_WRITERS, TO_OTHER_COMMITTEE)
    change = transfer_change(row, target, kind, until, today=today or hanoi_day())
    return await write_change(db, ctx, actor.subject, row, change, reason)


TO_OTHER_COMMITTEE = ("The destination cell is outside the units you administer: "
                      "a transfer to another committee is made by the city.")


async def return_home(db: AsyncConnection, ctx: ServiceContext, actor: str, row: dict[str, Any],
                      reason: str) -> dict:
    """The end of a temporary stay: the member attends their home cell again (a return event)."""
    away = row["temporary_unit"]
    await registry.update_member(db, row["id"], {"temporary_unit_id": None, "temporary_until": None})
    await registry.add_history(db, row["id"], actor, "returned", {"from": away, "to": row["unit"]}, reason)
    updated = await registry.member_by_id(db, row["id"])
    await emit_snapshot(db, ctx, MemberTransferred, updated, from_unit=away, from_committee=row["committee"],
                        transfer_kind="return")
    return updated


async def end_temporary_stay(db: AsyncConnection, ctx: ServiceContext, actor: Principal, member_id: Any,
                             reason: str) -> dict:
    """A temporary stay ended earlier than planned, by a decision of a registry writer of the
    member's home unit."""
    if not reason.strip():
        raise invalid([("reason", "is required: it is kept in the member's history")])
    row = await member_for_staff(db, actor, member_id, lock=True)
    if row["temporary_unit"] is None:
        raise Problem(409, "Not away", "The member attends their home cell.", code="not_away")
    return await return_home(db, ctx, actor.subject, row, reason.strip())


async def return_due(ctx: ServiceContext, *, batch: int = 500, today: date | None = None) -> int:
    """Every member whose temporary stay ends today or ended before returns home (a job of members,
    on one replica); how many."""
    done, today = 0, today or hanoi_day()
    while True:
        async with ctx.engine.begin() as db:
            ids = await registry.temporary_stays_ended(db, today, batch)
            for member_id in ids:
                row = await registry.member_by_id(db, member_id)
                await return_home(db, ctx, "system:temporary-transfers", row, "hết thời hạn sinh hoạt tạm thời")
        done += len(ids)
        if len(ids) < batch:
            return done


def status_change(row: dict[str, Any], status: str, *, eligible: bool | None, ineligible_reason: str | None,
                  today: date) -> Change | None:
    """A change of standing (and eligibility); None when it changes nothing."""
    if status not in domain.STATUSES:
        raise invalid([("status", f"must be one of {', '.join(domain.STATUSES)}")])
    leaving = status not in domain.ACTIVE_STANDING
    if eligible is None:
        eligible = False if leaving else row["eligible"]
    if leaving and ineligible_reason is None and not eligible:
        ineligible_reason = status.replace("_", " ")
    updated = parse_or_422({"status": status, "eligible": eligible,
                            "ineligible_reason": None if eligible else ineligible_reason}, today, member_from_row(row))
    standing = {"status": updated.status, "eligible": updated.eligible, "ineligible_reason": updated.ineligible_reason}
    if tuple(standing.values()) == (row["status"], row["eligible"], row["ineligible_reason"]):
        return None
    return Change(standing, standing, "status_changed",
                  {"status": {"from": row["status"], "to": status},
                   "eligible": {"from": row["eligible"], "to": updated.eligible}},
                  MemberStatusChanged, {"from_status": row["status"]})


async def change_status(db: AsyncConnection, ctx: ServiceContext, actor: Principal, member_id: Any,
                        status: str, *, eligible: bool | None, ineligible_reason: str | None,
                        reason: str | None, today: date) -> dict:
    row = await member_for_staff(db, actor, member_id, lock=True)
    change = status_change(row, status, eligible=eligible, ineligible_reason=ineligible_reason, today=today)
    if change is None:
        return row
    return await write_change(db, ctx, actor.subject, row, change, reason)


async def restrict_member(db: AsyncConnection, ctx: ServiceContext, actor: Principal, member_id: Any, *,
                          restricted: bool, reason: str, request_id: Any | None = None) -> dict:
    """Restrict processing of a member's data at their request, or lift it (Law 91/2025/QH15: the
    registry keeps the record under Party rules, but nothing of the person leaves it meanwhile, and
    every replica drops what it holds of them on the event). A registry writer over the member's
    unit, never the member concerned; `request_id`, the member's restriction or objection request,
    is completed with `reason` as what was done."""
    if not reason.strip():
        raise invalid([("reason", "is required: it is kept in the member's history and told to the member")])
    row = await member_for_staff(db, actor, member_id, lock=True)
    if is_member_concerned(actor, row):
        raise forbidden("A restriction of your own data is decided by another registry writer.")
    request = None
    if request_id is not None:
        request = await subject_requests.for_staff(db, actor, request_id)
        if str(request["member_id"]) != str(row["id"]) or request["kind"] not in ("restriction", "objection"):
            raise invalid([("request_id", "is not this member's open restriction or objection request")])
    if (row["restricted_at"] is not None) != restricted:
        await registry.set_restricted(db, row["id"], restricted)
        await registry.add_history(db, row["id"], actor.subject, "restricted" if restricted else "restriction_lifted",
                                   {"restricted": {"from": not restricted, "to": restricted}}, reason.strip())
        row = await registry.member_by_id(db, row["id"])
        await emit_snapshot(db, ctx, MemberUpdated, row, changed=["restricted"])
    if request is not None:
        await subject_requests.decide(db, actor, request_id, complete=True, outcome=reason)
    return row
