"""HTTP API of the member registry (/api/members/v1/...). Routes decode
input, open the transaction and hand over to the use cases."""


import asyncio
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.members import domain
from services.members.handlers import members as handlers
from services.members.adapters import bulk, registry
from services.members.adapters.import_files import read_member_rows
from sotay.kit.auth import Principal
from sotay.kit.db import path_codes
from sotay.kit.http import PROBLEM_RESPONSES, bearer_principal, invalid, json_response
from sotay.kit.http import MULTIPART_SLACK, body_limit, spool_upload, unstorable
from sotay.kit.service import ServiceContext

MAX_UPLOAD_BYTES = 100 * 1024 * 1024


class OrgUnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=2, max_length=200)
    kind: Literal["city", "committee", "grassroots", "cell"]
    parent: str | None = None
    wave: int | None = Field(default=None, ge=1, le=20)


class OrgUnitChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=2, max_length=200)
    wave: int | None = Field(default=None, ge=1, le=20)
    closed: bool | None = None


Text = str | None


class MemberCreate(BaseModel):
    """Member fields as in the import columns; rules are the registry's (domain.parse_member)."""
    model_config = ConfigDict(extra="forbid")
    party_card_no: str
    full_name: str
    date_of_birth: str
    gender: Text = None
    citizen_id: Text = None
    phone: Text = None
    unit: str
    admitted_on: Text = None
    official_on: Text = None
    status: Text = None
    eligible: bool | str | None = None
    ineligible_reason: Text = None


class MemberSearch(BaseModel):
    """A search in a body: a phone number in a URL would be written down by every proxy on the way."""
    model_config = ConfigDict(extra="forbid")
    q: str | None = Field(default=None, max_length=200)
    unit: str | None = Field(default=None, max_length=40)
    cursor: str | None = Field(default=None, max_length=1000)
    limit: int = Field(default=50, ge=1, le=500)


class MemberChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    full_name: Text = None
    date_of_birth: Text = None
    gender: Text = None
    citizen_id: Text = None
    phone: Text = None
    admitted_on: Text = None
    official_on: Text = None
    eligible: bool | str | None = None
    ineligible_reason: Text = None
    reason: str | None = Field(default=None, max_length=1000)


class Transfer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to_unit: str
    kind: Literal["official", "temporary"] = "official"
    reason: str | None = Field(default=None, max_length=1000)


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: Literal["active", "probationary", "exempt", "transferred_out", "deceased", "removed"]
    eligible: bool | None = None
    ineligible_reason: str | None = Field(default=None, max_length=500)
    reason: str | None = Field(default=None, max_length=1000)


class CorrectionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes: dict[str, Any]
    note: str | None = Field(default=None, max_length=2000)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


def unit_json(u: dict[str, Any], parent_code: str | None = None) -> dict[str, Any]:
    return {"id": str(u["id"]), "code": u["code"], "name": u["name"], "kind": u["kind"],
            "committee": u["committee"], "path": path_codes(u["path"]), "wave": u["wave"],
            "parent": parent_code if parent_code is not None else _parent_from_path(u["path"]),
            "closed": u["closed_at"] is not None, "version": u["version"]}


def _parent_from_path(path: str) -> str | None:
    codes = path_codes(path)
    return codes[-2] if len(codes) > 1 else None


def member_json(row: dict[str, Any], *, full: bool, masked: bool = False) -> dict[str, Any]:
    """A member as the API shows it: `full` adds the identifiers and the record's times, which a
    reader who is not a registry writer sees `masked` (domain.mask_value)."""
    out = {"id": str(row["id"]), "party_card_no": row["party_card_no"], "full_name": row["full_name"],
           "date_of_birth": row["date_of_birth"].isoformat(), "gender": row["gender"], "unit": row["unit"],
           "committee": row["committee"], "status": row["status"], "eligible": row["eligible"],
           "ineligible_reason": row["ineligible_reason"], "has_account": row["has_account"],
           "temporary_unit": row["temporary_unit"], "version": row["version"],
           "admitted_on": _iso(row["admitted_on"]), "official_on": _iso(row["official_on"])}
    if full:
        identifiers = {field: row[field] for field in domain.MASKED_FIELDS}
        out.update(domain.mask_fields(identifiers) if masked else identifiers,
                   created_at=row["created_at"].isoformat(), updated_at=row["updated_at"].isoformat())
    return out


def correction_json(c: dict[str, Any]) -> dict[str, Any]:
    out = {k: (str(v) if isinstance(v, uuid.UUID) else v.isoformat() if hasattr(v, "isoformat") else v)
           for k, v in c.items()}
    if c.get("masked"):
        out["changes"] = domain.mask_fields(c["changes"])
    return out


def history_json(entry: dict[str, Any], *, masked: bool) -> dict[str, Any]:
    changes = domain.mask_fields(entry["changes"]) if masked else entry["changes"]
    return {**entry, "changes": changes, "at": entry["at"].isoformat()}


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def _uuid(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid([(field, "must be a UUID")]) from None


def build_router(ctx: ServiceContext) -> APIRouter:
    router = APIRouter(tags=["members"], responses=PROBLEM_RESPONSES)
    CurrentUser = Annotated[Principal, Depends(bearer_principal(ctx.verifier))]
    engine = ctx.engine
    import_tasks: set[asyncio.Task] = set()

    async def idempotent(request: Request, user: Principal, work) -> Response:
        return await ctx.idempotency.run(request, user.subject, work)

    # --- org tree ---------------------------------------------------------------

    @router.get("/org-units", summary="List units of the org tree")
    async def list_org_units(kind: Literal["city", "committee", "grassroots", "cell"] | None = None,
                             parent: str | None = None, cursor: str | None = None,
                             limit: int = Query(500, ge=1, le=5000)):
        async with engine.connect() as db:
            parent_id = None
            if parent:
                parent_unit = await registry.unit_by_code(db, parent)
                if parent_unit is None:
                    raise invalid([("parent", "is not a unit of the registry")])
                parent_id = parent_unit["id"]
            after = _cursor(cursor)[0] if cursor else None
            units = await registry.list_units(db, kind=kind, parent_id=parent_id, limit=limit + 1, after=after)
        page, more = units[:limit], len(units) > limit
        return {"items": [unit_json(u) for u in page],
                "next_cursor": registry.encode_cursor(page[-1]["path"]) if more else None}

    @router.get("/org-units/{code}", summary="One unit")
    async def get_org_unit(code: str):
        async with engine.connect() as db:
            unit = await registry.unit_by_code(db, code)
        if unit is None:
            raise handlers.not_found("unit")
        return unit_json(unit)

    @router.post("/org-units", status_code=201, summary="Create a unit")
    async def create_org_unit(body: OrgUnitCreate, request: Request, user: CurrentUser):
        async def work(db):
            unit = await handlers.create_org_unit(db, ctx, user, body.model_dump())
            return json_response(unit_json(unit), 201,
                                 {"Location": f"/api/members/v1/org-units/{unit['code']}"})
        return await idempotent(request, user, work)

    @router.patch("/org-units/{code}", summary="Rename, change wave or close a unit")
    async def change_org_unit(code: str, body: OrgUnitChange, user: CurrentUser):
        async with engine.begin() as db:
            unit = await handlers.update_org_unit(db, ctx, user, code, body.model_dump(exclude_unset=True))
        return unit_json(unit)

    # --- members ----------------------------------------------------------------

    async def search(user: Principal, q: str | None, unit: str | None, cursor: str | None, limit: int,
                     *, phones: bool):
        async with engine.connect() as db:
            scopes = await handlers.scope_paths(db, user, handlers.REGISTRY_READERS)
            if not scopes:
                raise handlers.forbidden()
            unit_path = None
            if unit:
                target = await registry.unit_by_code(db, unit)
                if target is None:
                    raise invalid([("unit", "is not a unit of the registry")])
                unit_path = target["path"]
            card_no, phone, folded = _interpret_query(q, phones=phones)
            after = tuple(_cursor(cursor, 2)) if cursor else None
            rows = await registry.search_members(db, scopes=scopes, q_folded=folded, card_no=card_no, phone=phone,
                                                 unit_path=unit_path, limit=limit + 1, after=after)
        page, more = rows[:limit], len(rows) > limit
        return {"items": [member_json(r, full=False) for r in page],
                "next_cursor": registry.encode_cursor(page[-1]["unit_path"], str(page[-1]["id"])) if more else None}

    @router.get("/members", summary="Search members in the caller's units by name or card number (by phone: "
                                    "POST /members/search)")
    async def search_members(user: CurrentUser, q: str | None = Query(None, max_length=200),
                             unit: str | None = None, cursor: str | None = None,
                             limit: int = Query(50, ge=1, le=500)):
        """A URL is written down by every proxy on its way: here a number is searched as a card
        number only, and one that can only be a phone (+84…) is refused."""
        if q and domain.normalised_or_none(domain.normalise_phone, q.strip()) and not \
                domain.normalised_or_none(domain.normalise_card_no, q.strip()):
            raise invalid([("q", "a phone number is searched with POST /api/members/v1/members/search, so that "
                                 "it stays out of URLs and of the logs that record them")])
        return await search(user, q, unit, cursor, limit, phones=False)

    @router.post("/members/search", summary="Search members in the caller's units by name, card number or phone")
    async def search_members_by_body(body: MemberSearch, user: CurrentUser):
        return await search(user, body.q, body.unit, body.cursor, body.limit, phones=True)

    @router.post("/members", status_code=201, summary="Create one member")
    async def create_member(body: MemberCreate, request: Request, user: CurrentUser):
        async def work(db):
            row = await handlers.create_member(db, ctx, user, body.model_dump(), today=date.today())
            return json_response(member_json(row, full=True), 201,
                                 {"Location": f"/api/members/v1/members/{row['id']}"})
        return await idempotent(request, user, work)

    @router.get("/members/me", summary="The signed-in member's own record (audited)")
    async def my_record(user: CurrentUser):
        async with engine.begin() as db:
            row = await handlers.read_own_record(db, user)
        return member_json(row, full=True)

    @router.get("/members/{member_id}", summary="A member's full record (audited; masked for readers who are not "
                                                "registry writers)")
    async def get_member(member_id: str, user: CurrentUser):
        async with engine.begin() as db:
            row, masked = await handlers.read_member(db, user, _uuid(member_id))
        return member_json(row, full=True, masked=masked)

    @router.patch("/members/{member_id}", summary="Edit a member's record")
    async def change_member(member_id: str, body: MemberChange, user: CurrentUser):
        patch = body.model_dump(exclude_unset=True)
        reason = patch.pop("reason", None)
        async with engine.begin() as db:
            row = await handlers.update_member(db, ctx, user, _uuid(member_id), patch, today=date.today(),
                                               reason=reason)
        return member_json(row, full=True)

    @router.get("/members/{member_id}/history", summary="Who changed what, when and why (audited; masked for "
                                                        "readers who are not registry writers)")
    async def member_history(member_id: str, user: CurrentUser):
        async with engine.begin() as db:
            items, masked = await handlers.read_history(db, user, _uuid(member_id))
        return {"items": [history_json(h, masked=masked) for h in items]}

    @router.post("/members/{member_id}/transfers", summary="Transfer a member (chuyển sinh hoạt)")
    async def transfer_member(member_id: str, body: Transfer, request: Request, user: CurrentUser):
        async def work(db):
            row = await handlers.transfer_member(db, ctx, user, _uuid(member_id), body.to_unit, body.kind,
                                                 body.reason)
            return json_response(member_json(row, full=False))
        return await idempotent(request, user, work)

    @router.post("/members/{member_id}/status", summary="Change a member's standing")
    async def change_status(member_id: str, body: StatusChange, request: Request, user: CurrentUser):
        async def work(db):
            row = await handlers.change_status(
                db, ctx, user, _uuid(member_id), body.status, eligible=body.eligible,
                ineligible_reason=body.ineligible_reason, reason=body.reason, today=date.today())
            return json_response(member_json(row, full=False))
        return await idempotent(request, user, work)

    # --- correction requests ------------------------------------------------------

    @router.post("/members/{member_id}/corrections", status_code=201,
                 summary="Propose a correction of one's own record (báo sai thông tin)")
    async def request_correction(member_id: str, body: CorrectionCreate, request: Request, user: CurrentUser):
        async def work(db):
            created = await handlers.request_correction(db, user, _uuid(member_id), body.changes, body.note,
                                                        today=date.today())
            return json_response(correction_json(created), 201)
        return await idempotent(request, user, work)

    @router.get("/corrections", summary="Correction requests in the caller's units (audited; masked for readers "
                                        "who are not registry writers)")
    async def list_corrections(user: CurrentUser,
                               status: Literal["pending", "accepted", "rejected"] | None = "pending"):
        async with engine.begin() as db:
            items = await handlers.list_corrections(db, user, status)
        return {"items": [correction_json(c) for c in items]}

    @router.post("/corrections/{request_id}/accept", summary="Accept a correction request")
    async def accept_correction(request_id: str, body: Decision, user: CurrentUser):
        async with engine.begin() as db:
            decided = await handlers.decide_correction(db, ctx, user, _uuid(request_id), accept=True,
                                                       reason=body.reason, today=date.today())
        return correction_json(decided)

    @router.post("/corrections/{request_id}/reject", summary="Reject a correction request (reason required)")
    async def reject_correction(request_id: str, body: Decision, user: CurrentUser):
        async with engine.begin() as db:
            decided = await handlers.decide_correction(db, ctx, user, _uuid(request_id), accept=False,
                                                       reason=body.reason, today=date.today())
        return correction_json(decided)

    # --- imports ------------------------------------------------------------------

    @router.post("/imports", status_code=202, summary="Import members from a CSV or XLSX file",
                 openapi_extra=body_limit(MAX_UPLOAD_BYTES + MULTIPART_SLACK))
    async def upload_import(user: CurrentUser, file: UploadFile = File(...), wait: bool = False):
        async with engine.connect() as db:
            scopes = await handlers.scope_paths(db, user, handlers.REGISTRY_WRITERS)
        if not scopes:
            raise handlers.forbidden()
        filename = file.filename or "upload"
        if problems := unstorable({"file": filename}):
            raise invalid(problems)
        # The import outlives the request (whose upload is closed with it): a copy of its own, on disk,
        # read row by row (adapters/import_files.py), and removed once read.
        spooled = await spool_upload(file, MAX_UPLOAD_BYTES)
        try:
            rows = await asyncio.to_thread(read_member_rows, spooled, filename)
        except ValueError as exc:
            spooled.close()
            raise invalid([("file", str(exc))]) from None
        except BaseException:
            spooled.close()
            raise
        report = bulk.ImportReport(import_id=uuid.uuid4())
        await bulk.record_import_start(engine, report, filename, user.subject)
        task = asyncio.create_task(_run_import(ctx, report, rows, user.subject, scopes, spooled))
        import_tasks.add(task)
        task.add_done_callback(import_tasks.discard)
        location = f"/api/members/v1/imports/{report.import_id}"
        if wait:
            await task
            return json_response(await _import_json(engine, report.import_id), 200, {"Location": location})
        return json_response({"id": str(report.import_id), "status": "running"}, 202, {"Location": location})

    @router.get("/imports/{import_id}", summary="Progress and per-row errors of an import")
    async def get_import(import_id: str, user: CurrentUser):
        found = await _import_json(engine, _uuid(import_id))
        if found is None or (found["created_by"] != user.subject and "city" not in user.units_for("city_admin")):
            raise handlers.not_found("import")
        return found

    return router


async def _run_import(ctx: ServiceContext, report: bulk.ImportReport, rows, actor: str, scopes: list[str],
                      spooled) -> None:
    importer = bulk.MemberImporter(ctx.engine, ctx, actor=actor)
    try:
        await importer.run(rows, report, allowed_paths=scopes,
                           progress=lambda r: bulk.record_import_progress(ctx.engine, r))
        await bulk.record_import_progress(ctx.engine, report, "done")
    except Exception:
        await bulk.record_import_progress(ctx.engine, report, "failed")
        raise
    finally:
        spooled.close()


async def _import_json(engine, import_id) -> dict[str, Any] | None:
    row = await bulk.import_status(engine, import_id)
    if row is None:
        return None
    return {"id": str(row["id"]), "filename": row["filename"], "status": row["status"],
            "total_rows": row["total_rows"], "imported": row["imported"], "rejected": row["rejected"],
            "errors": row["errors"], "created_by": row["created_by"],
            "started_at": row["started_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None}


def _interpret_query(q: str | None, *, phones: bool = True) -> tuple[str | None, str | None, str | None]:
    """A search box takes a card number, a phone number (unless `phones` is False) or (part of) a
    name. Ten digits starting with 0 may be either a card or a phone: both are searched."""
    if not q or not q.strip():
        return None, None, None
    q = q.strip()
    card_no = domain.normalised_or_none(domain.normalise_card_no, q)
    phone = domain.normalised_or_none(domain.normalise_phone, q) if phones else None
    if card_no or phone:
        return card_no, phone, None
    return None, None, domain.fold(q)


def _cursor(cursor: str, parts: int = 1) -> list[str]:
    try:
        decoded = registry.decode_cursor(cursor)
    except ValueError as exc:
        raise invalid([("cursor", str(exc))]) from None
    if len(decoded) != parts:
        raise invalid([("cursor", "is not a cursor this service issued")])
    return decoded
