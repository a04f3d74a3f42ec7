"""HTTP API of the member registry (/api/members/v1/...). Routes decode input, open the
transaction, hand over to the use cases (handlers/) and shape their answer."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Path, Query, Request, UploadFile
from fastapi.responses import Response

from services.members import domain
from services.members.adapters import access_export
from services.members.adapters import reconcile as reconcile_files
from services.members.entrypoints.models import (
    AccessHistory, AccessHistoryPage, AccessHistoryQuery, AlertClose, CellProposal, CorrectionCreate, CorrectionRequest,
    CorrectionRequests, Decision, ImportStarted, ImportStatus, MemberChange, MemberCreate, MemberHistory, MemberPage,
    MemberRecord, MemberSearch, MemberSummary, MyReview, MyReviews, Reconciliation, Reconciliations, OrgUnit, OrgUnitChange, OrgUnitCreate, OrgUnitPage,
    RequestExtension, RequestOutcome, RequestRefusal, Restriction, ReviewCycle, ReviewCycleChange, ReviewCycleCreate,
    ReviewCycles, ReviewDecision, ReviewDecisionCreate, ReviewSummary, SelfAssessment, StaffReview, StaffReviews,
    StatusChange, SubjectRequest, TemporaryStayEnd, SubjectRequestCreate, SubjectRequests, Transfer, UnusualReadAlert, UnusualReadAlerts,
    moment,
)
from services.members.handlers import (
    breach, corrections, imports, members, org_units, reconcile, reviews, subject, subject_requests,
)
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.db import path_codes
from sotay.contracts.subject import SubjectData
from sotay.kit.deps import CurrentUser, service_router
from sotay.kit.http import MULTIPART_SLACK, body_limit, invalid, json_response, spool_upload, unstorable
from sotay.kit.service import ServiceContext

MAX_UPLOAD_BYTES = 100 * 1024 * 1024
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UnitKind = Literal["city", "committee", "grassroots", "cell"]
ReviewYear = Annotated[int, Path(ge=2000, le=2100, description="The year reviewed")]


def unit_json(u: dict[str, Any], parent_code: str | None = None) -> dict[str, Any]:
    return {"id": str(u["id"]), "code": u["code"], "name": u["name"], "kind": u["kind"],
            "committee": u["committee"], "path": path_codes(u["path"]), "wave": u["wave"],
            "parent": parent_code if parent_code is not None else parent_from_path(u["path"]),
            "closed": u["closed_at"] is not None, "version": u["version"]}


def parent_from_path(path: str) -> str | None:
    codes = path_codes(path)
    return codes[-2] if len(codes) > 1 else None


def member_json(row: dict[str, Any], *, full: bool, masked: bool = False) -> dict[str, Any]:
    """A member as the API shows it: `full` adds the identifiers and the record's times, which a
    reader who is not a registry writer sees `masked` (domain.mask_value)."""
    out = {"id": str(row["id"]), "party_card_no": row["party_card_no"], "full_name": row["full_name"],
           "date_of_birth": iso(row["date_of_birth"]), "gender": row["gender"], "unit": row["unit"],
           "unit_name": row.get("unit_name"),
           "committee": row["committee"], "status": row["status"], "eligible": row["eligible"],
           "ineligible_reason": row["ineligible_reason"], "has_account": row["has_account"],
           "temporary_unit": row["temporary_unit"], "temporary_until": iso(row.get("temporary_until")),
           "version": row["version"],
           "admitted_on": iso(row["admitted_on"]), "official_on": iso(row["official_on"]),
           "restricted": row.get("restricted_at") is not None}
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
    if "current" in c:
        current = domain.mask_fields(c["current"]) if c.get("masked") else c["current"]
        out["current"] = {k: iso(v) if isinstance(v, date) else v for k, v in current.items()}
    return out


REQUEST_FIELDS = ("id", "member_id", "kind", "asked", "correction_id", "status", "received_at", "acknowledge_by",
                  "due_by", "acknowledged_at", "extended_to", "extension_reason", "decided_at", "outcome", "overdue",
                  "unit", "unit_name")
STAFF_REQUEST_FIELDS = ("party_card_no", "full_name", "acknowledged_by", "decided_by", "can_act")


def request_json(r: dict[str, Any], *, staff: bool = False) -> dict[str, Any]:
    """A data-subject request; the staff also see whose it is and which accounts acted."""
    fields = REQUEST_FIELDS + (STAFF_REQUEST_FIELDS if staff else ())
    return {k: str(r[k]) if isinstance(r[k], uuid.UUID) else r[k].isoformat() if hasattr(r[k], "isoformat")
            else r[k] for k in fields}


CYCLE_FIELDS = ("year", "self_assessment_due", "decision_due", "excellent_cap_pct", "stage", "opened_at")
MY_REVIEW_FIELDS = ("year", "self_assessment", "proposed_level", "submitted_at", "cell_level", "cell_comment",
                    "cell_at", "decided_level", "decided_at", "decided_unit", "decided_unit_name", "unit", "unit_name",
                    "self_assessment_due", "decision_due", "stage")
STAFF_REVIEW_FIELDS = ("year", "member_id", "full_name", "unit", "unit_name", "id", "self_assessment", "proposed_level",
                       "submitted_at", "cell_level", "cell_comment", "cell_at", "decided_level", "decided_at",
                       "decided_unit", "decided_unit_name", "can_propose", "can_decide")


def plain(value: Any) -> Any:
    return str(value) if isinstance(value, uuid.UUID) else value.isoformat() if hasattr(value, "isoformat") else value


def picked(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: plain(row[k]) for k in fields}


def history_json(entry: dict[str, Any], *, masked: bool) -> dict[str, Any]:
    changes = domain.mask_fields(entry["changes"]) if masked else entry["changes"]
    return {**entry, "changes": changes, "at": entry["at"].isoformat()}


def import_json(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(row["id"]), "filename": row["filename"], "status": row["status"],
            "total_rows": row["total_rows"], "imported": row["imported"], "rejected": row["rejected"],
            "errors": row["errors"], "created_by": row["created_by"],
            "started_at": row["started_at"].isoformat(),
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None}


def access_history_json(history: dict[str, Any]) -> dict[str, Any]:
    return {"members": [{"id": str(m["id"]), "party_card_no": m["party_card_no"], "full_name": m["full_name"],
                         "unit": m["unit"], "unit_name": m["unit_name"]} for m in history["members"]],
            "reads": [{"at": r["at"].isoformat(), "member_id": str(r["member_id"]), "account": r["actor"],
                       "reader_name": r["actor_name"], "reader_role": r["actor_role"], "reader_unit": r["actor_unit"],
                       "reader_unit_name": r["actor_unit_name"], "what": r["what"], "purpose": r["purpose"],
                       "masked": r["masked"], "reason": r["reason"]} for r in history["reads"]],
            "truncated": history["truncated"]}


def alert_json(a: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(a["id"]), "account": a["actor"], "reader_name": a["actor_name"], "reader_role": a["actor_role"],
            "reader_unit": a["actor_unit"], "reader_unit_name": a["actor_unit_name"], "reads": a["reads"],
            "threshold": a["threshold"], "window_start": a["window_start"].isoformat(),
            "window_end": a["window_end"].isoformat(), "raised_at": a["raised_at"].isoformat(),
            "closed_at": a["closed_at"].isoformat() if a["closed_at"] else None, "closed_by": a["closed_by"],
            "note": a["note"]}


def query_moment(value: datetime | None, field: str) -> datetime | None:
    try:
        return moment(value)
    except ValueError as exc:
        raise invalid([(field, str(exc))]) from None


def iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def parse_uuid(value: str, field: str = "id") -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise invalid([(field, "must be a UUID")]) from None


def page_json(items: list[dict[str, Any]], next_cursor: str | None) -> Response:
    return json_response({"items": items, "next_cursor": next_cursor})


def build_router(ctx: ServiceContext) -> APIRouter:
    router = service_router(ctx, tags=["members"])
    engine = ctx.engine
    running_imports = imports.Imports(ctx)
    unusual = breach.UnusualReads(ctx.settings.unusual_reads_per_hour)

    async def idempotent(request: Request, user: Principal, work) -> Response:
        return await ctx.idempotency.run(request, user.subject, work)

    # --- org tree ---------------------------------------------------------------

    @router.get("/org-units", summary="List units of the org tree", response_model=OrgUnitPage)
    async def list_org_units(kind: UnitKind | None = None, parent: str | None = None, cursor: str | None = None,
                             limit: int = Query(500, ge=1, le=5000),
                             q: str | None = Query(None, max_length=100, description=(
                                 "Words of the unit's name (accents optional) or code: q=chi bo so 2"))):
        async with engine.connect() as db:
            page, next_cursor = await org_units.list_org_units(db, kind=kind, parent=parent, cursor=cursor,
                                                               limit=limit, q=q)
        return page_json([unit_json(u) for u in page], next_cursor)

    @router.get("/org-units/{code}", summary="One unit", response_model=OrgUnit)
    async def get_org_unit(code: str):
        async with engine.connect() as db:
            unit = await org_units.get_org_unit(db, code)
        return json_response(unit_json(unit))

    @router.post("/org-units", status_code=201, summary="Create a unit", response_model=OrgUnit)
    async def create_org_unit(body: OrgUnitCreate, request: Request, user: CurrentUser):
        async def work(db):
            unit = await org_units.create_org_unit(db, user, body.model_dump())
            return json_response(unit_json(unit), 201,
                                 {"Location": f"/api/members/v1/org-units/{unit['code']}"})
        return await idempotent(request, user, work)

    @router.patch("/org-units/{code}", summary="Rename, change wave or close a unit", response_model=OrgUnit)
    async def change_org_unit(code: str, body: OrgUnitChange, user: CurrentUser):
        async with engine.begin() as db:
            unit = await org_units.update_org_unit(db, user, code, body.model_dump(exclude_unset=True))
        return json_response(unit_json(unit))

    # --- members ----------------------------------------------------------------

    async def search(user: Principal, q: str | None, unit: str | None, cursor: str | None, limit: int,
                     *, phones: bool) -> Response:
        async with engine.begin() as db:  # its audit row commits with the page shown
            page, next_cursor = await members.search_members(db, user, q, unit, cursor, limit, phones=phones)
        return page_json([member_json(r, full=False) for r in page], next_cursor)

    @router.get("/members", response_model=MemberPage,
                summary="Search members in the caller's units by name or card number (by phone: "
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

    @router.post("/members/search", response_model=MemberPage,
                 summary="Search members in the caller's units by name, card number or phone")
    async def search_members_by_body(body: MemberSearch, user: CurrentUser):
        return await search(user, body.q, body.unit, body.cursor, body.limit, phones=True)

    @router.post("/members", status_code=201, summary="Create one member", response_model=MemberRecord)
    async def create_member(body: MemberCreate, request: Request, user: CurrentUser):
        async def work(db):
            row = await members.create_member(db, ctx, user, body.model_dump(), today=date.today())
            return json_response(member_json(row, full=True), 201,
                                 {"Location": f"/api/members/v1/members/{row['id']}"})
        return await idempotent(request, user, work)

    @router.get("/members/me", summary="The signed-in member's own record (audited)", response_model=MemberRecord)
    async def my_record(user: CurrentUser):
        async with engine.begin() as db:
            row = await members.read_own_record(db, user)
        return json_response(member_json(row, full=True))

    @router.get("/members/{member_id}", response_model=MemberRecord,
                summary="A member's full record (audited; masked for readers who are not registry writers)")
    async def get_member(member_id: str, user: CurrentUser):
        async with engine.begin() as db:
            row, masked = await members.read_member(db, user, parse_uuid(member_id), unusual)
        return json_response(member_json(row, full=True, masked=masked))

    @router.patch("/members/{member_id}", summary="Edit a member's record", response_model=MemberRecord)
    async def change_member(member_id: str, body: MemberChange, user: CurrentUser):
        patch = body.model_dump(exclude_unset=True)
        reason = patch.pop("reason", None)
        async with engine.begin() as db:
            row = await members.update_member(db, ctx, user, parse_uuid(member_id), patch, today=date.today(),
                                              reason=reason)
        return json_response(member_json(row, full=True))

    @router.get("/members/{member_id}/history", response_model=MemberHistory,
                summary="Who changed what, when and why (audited; masked for readers who are not registry "
                        "writers)")
    async def member_history(member_id: str, user: CurrentUser):
        async with engine.begin() as db:
            items, masked = await members.read_history(db, user, parse_uuid(member_id))
        return json_response({"items": [history_json(h, masked=masked) for h in items]})

    @router.get("/members/{member_id}/reads", response_model=AccessHistory,
                summary="Who read a member's records, when, what and why (the organisation board; audited)")
    async def member_reads(member_id: str, user: CurrentUser, since: datetime | None = None,
                           until: datetime | None = None, limit: int = Query(1000, ge=1, le=5000)):
        async with engine.begin() as db:
            history = await breach.member_reads(db, user, parse_uuid(member_id), since=query_moment(since, "since"),
                                                until=query_moment(until, "until"), limit=limit)
        return json_response(access_history_json(history))

    @router.post("/members/{member_id}/transfers", summary="Transfer a member (chuyển sinh hoạt)",
                 response_model=MemberSummary)
    async def transfer_member(member_id: str, body: Transfer, request: Request, user: CurrentUser):
        async def work(db):
            row = await members.transfer_member(db, ctx, user, parse_uuid(member_id), body.to_unit, body.kind,
                                                body.reason, body.until)
            return json_response(member_json(row, full=False))
        return await idempotent(request, user, work)

    @router.post("/members/{member_id}/return", response_model=MemberSummary,
                 summary="End a temporary stay early: the member attends their home cell again")
    async def end_temporary_stay(member_id: str, body: TemporaryStayEnd, request: Request, user: CurrentUser):
        async def work(db):
            row = await members.end_temporary_stay(db, ctx, user, parse_uuid(member_id), body.reason)
            return json_response(member_json(row, full=False))
        return await idempotent(request, user, work)

    @router.post("/members/{member_id}/status", summary="Change a member's standing", response_model=MemberSummary)
    async def change_status(member_id: str, body: StatusChange, request: Request, user: CurrentUser):
        async def work(db):
            row = await members.change_status(
                db, ctx, user, parse_uuid(member_id), body.status, eligible=body.eligible,
                ineligible_reason=body.ineligible_reason, reason=body.reason, today=date.today())
            return json_response(member_json(row, full=False))
        return await idempotent(request, user, work)

    @router.put("/members/{member_id}/restriction", response_model=MemberSummary,
                summary="Restrict processing of a member's data at their request, or lift it (hạn chế xử lý)")
    async def restrict_member(member_id: str, body: Restriction, request: Request, user: CurrentUser):
        async def work(db):
            row = await members.restrict_member(db, ctx, user, parse_uuid(member_id), restricted=body.restricted,
                                                reason=body.reason,
                                                request_id=parse_uuid(body.request_id, "request_id")
                                                if body.request_id else None)
            return json_response(member_json(row, full=False))
        return await idempotent(request, user, work)

    # --- correction requests ------------------------------------------------------

    @router.post("/members/{member_id}/corrections", status_code=201, response_model=CorrectionRequest,
                 summary="Propose a correction of one's own record (báo sai thông tin)")
    async def request_correction(member_id: str, body: CorrectionCreate, request: Request, user: CurrentUser):
        async def work(db):
            created = await corrections.request_correction(db, user, parse_uuid(member_id), body.changes,
                                                           body.note, today=date.today())
            return json_response(correction_json(created), 201)
        return await idempotent(request, user, work)

    @router.get("/me/data", response_model=SubjectData,
                summary="Everything the registry holds about you, and who read your record (audited)")
    async def my_data(user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await subject.held(db, user))

    @router.get("/me/corrections", response_model=CorrectionRequests,
                summary="The signed-in member's own correction requests and their decisions (audited)")
    async def my_corrections(user: CurrentUser):
        async with engine.begin() as db:
            items = await corrections.own_corrections(db, user)
        return json_response({"items": [correction_json(c) for c in items]})

    @router.get("/corrections", response_model=CorrectionRequests,
                summary="Correction requests in the caller's units (audited; masked for readers who are not "
                        "registry writers)")
    async def list_corrections(user: CurrentUser,
                               status: Literal["pending", "accepted", "rejected"] | None = "pending"):
        async with engine.begin() as db:
            items = await corrections.list_corrections(db, user, status)
        return json_response({"items": [correction_json(c) for c in items]})

    @router.post("/corrections/{request_id}/accept", summary="Accept a correction request",
                 response_model=CorrectionRequest)
    async def accept_correction(request_id: str, body: Decision, user: CurrentUser):
        async with engine.begin() as db:
            decided = await corrections.decide_correction(db, ctx, user, parse_uuid(request_id), accept=True,
                                                          reason=body.reason, today=date.today())
        return json_response(correction_json(decided))

    @router.post("/corrections/{request_id}/reject", summary="Reject a correction request (reason required)",
                 response_model=CorrectionRequest)
    async def reject_correction(request_id: str, body: Decision, user: CurrentUser):
        async with engine.begin() as db:
            decided = await corrections.decide_correction(db, ctx, user, parse_uuid(request_id), accept=False,
                                                          reason=body.reason, today=date.today())
        return json_response(correction_json(decided))

    # --- data-subject requests (handlers/subject_requests.py) -------------------------------

    @router.post("/me/requests", status_code=201, response_model=SubjectRequest,
                 summary="Ask your unit to correct, restrict, object to a processing of, or erase your data "
                         "(acknowledged within 2 working days, completed within 15 days)")
    async def ask_request(body: SubjectRequestCreate, request: Request, user: CurrentUser):
        async def work(db):
            created = await subject_requests.ask(db, user, body.kind, body.asked)
            return json_response(request_json(created), 201)
        return await idempotent(request, user, work)

    @router.get("/me/requests", response_model=SubjectRequests,
                summary="The signed-in member's own data-subject requests, their deadlines and outcomes")
    async def my_requests(user: CurrentUser):
        async with engine.connect() as db:
            items = await subject_requests.own(db, user)
        return json_response({"items": [request_json(r) for r in items]})

    @router.get("/subject-requests", response_model=SubjectRequests,
                summary="Data-subject requests of members in the caller's units, the most urgent first "
                        "(`overdue=true`: only those past a deadline; registry writers; audited)")
    async def list_subject_requests(user: CurrentUser, status: Literal["open", "all"] = "open",
                                    overdue: bool = False):
        async with engine.begin() as db:  # the read is audited in its transaction
            items = await subject_requests.staff_list(db, user, open_only=status == "open", overdue=overdue)
        return json_response({"items": [request_json(r, staff=True) for r in items]})

    @router.post("/subject-requests/{subject_request_id}/acknowledge", response_model=SubjectRequest,
                 summary="Acknowledge a data-subject request (within 2 working days)")
    async def acknowledge_request(subject_request_id: str, request: Request, user: CurrentUser):
        async def work(db):
            done = await subject_requests.acknowledge(db, user, parse_uuid(subject_request_id))
            return json_response(request_json(done, staff=True))
        return await idempotent(request, user, work)

    @router.post("/subject-requests/{subject_request_id}/extend", response_model=SubjectRequest,
                 summary="Extend a data-subject request's deadline once, by up to 15 days, with a reason")
    async def extend_request(subject_request_id: str, body: RequestExtension, request: Request, user: CurrentUser):
        async def work(db):
            done = await subject_requests.extend(db, user, parse_uuid(subject_request_id), body.days, body.reason)
            return json_response(request_json(done, staff=True))
        return await idempotent(request, user, work)

    @router.post("/subject-requests/{subject_request_id}/complete", response_model=SubjectRequest,
                 summary="Complete a data-subject request, telling the member what was done")
    async def complete_request(subject_request_id: str, body: RequestOutcome, request: Request, user: CurrentUser):
        async def work(db):
            done = await subject_requests.decide(db, user, parse_uuid(subject_request_id), complete=True,
                                                 outcome=body.outcome)
            return json_response(request_json(done, staff=True))
        return await idempotent(request, user, work)

    @router.post("/subject-requests/{subject_request_id}/refuse", response_model=SubjectRequest,
                 summary="Refuse a data-subject request, telling the member why in plain words")
    async def refuse_request(subject_request_id: str, body: RequestRefusal, request: Request, user: CurrentUser):
        async def work(db):
            done = await subject_requests.decide(db, user, parse_uuid(subject_request_id), complete=False,
                                                 outcome=body.reason)
            return json_response(request_json(done, staff=True))
        return await idempotent(request, user, work)

    # --- the yearly review and ranking (handlers/reviews.py) ----------------------------------------

    @router.post("/review-cycles", status_code=201, response_model=ReviewCycle,
                 summary="Open a year's review and ranking of members (kiểm điểm, đánh giá, xếp loại; the city)")
    async def open_review_cycle(body: ReviewCycleCreate, request: Request, user: CurrentUser):
        async def work(db):
            cycle = await reviews.open_cycle(db, user, year=body.year, self_assessment_due=body.self_assessment_due,
                                             decision_due=body.decision_due, excellent_cap_pct=body.excellent_cap_pct)
            return json_response(picked(cycle, CYCLE_FIELDS), 201,
                                 {"Location": f"/api/members/v1/review-cycles/{cycle['year']}"})
        return await idempotent(request, user, work)

    @router.get("/review-cycles", response_model=ReviewCycles,
                summary="The years' review cycles, the latest first, with where each stands today")
    async def list_review_cycles(user: CurrentUser):
        async with engine.connect() as db:
            items = await reviews.list_cycles(db)
        return json_response({"items": [picked(c, CYCLE_FIELDS) for c in items]})

    @router.patch("/review-cycles/{year}", response_model=ReviewCycle,
                  summary="Change a cycle's deadlines or its cap of excellent members (the city)")
    async def change_review_cycle(body: ReviewCycleChange, user: CurrentUser, year: ReviewYear):
        async with engine.begin() as db:
            cycle = await reviews.change_cycle(db, user, year, body.model_dump(exclude_unset=True))
        return json_response(picked(cycle, CYCLE_FIELDS))

    @router.get("/review-cycles/{year}/summary", response_model=ReviewSummary,
                summary="A unit's review of the year in counts: decided levels, the share rated excellent against "
                        "the cap, the cells not done (no names)")
    async def review_summary(user: CurrentUser, year: ReviewYear,
                             unit: str = Query(max_length=40, description="The unit's code")):
        async with engine.connect() as db:
            found = await reviews.summary(db, user, year, unit)
        found["cycle"] = picked(found["cycle"], CYCLE_FIELDS)
        return json_response(found)

    @router.get("/review-cycles/{year}/reviews", response_model=StaffReviews,
                summary="The members of a unit with their reviews of the year, by cell then name (the cell's "
                        "secretary, the unit's administrators; audited)")
    async def list_reviews(user: CurrentUser, year: ReviewYear,
                           unit: str = Query(max_length=40, description="The unit's code"),
                           cursor: str | None = Query(None, max_length=1000), limit: int = Query(100, ge=1, le=500)):
        async with engine.begin() as db:  # the read is audited in its transaction
            items, next_cursor = await reviews.staff_list(db, user, year, unit, cursor=cursor, limit=limit)
        return page_json([picked(r, STAFF_REVIEW_FIELDS) for r in items], next_cursor)

    @router.post("/review-cycles/{year}/reviews/{member_id}/proposal", response_model=StaffReview,
                 summary="The cell proposes a member's level, with its comment (the cell's secretary)")
    async def propose_review(member_id: str, body: CellProposal, request: Request, user: CurrentUser,
                             year: ReviewYear):
        async def work(db):
            done = await reviews.propose(db, user, year, parse_uuid(member_id, "member_id"), level=body.level,
                                         comment=body.comment)
            return json_response(picked(done, STAFF_REVIEW_FIELDS))
        return await idempotent(request, user, work)

    @router.post("/review-cycles/{year}/reviews/{member_id}/decision", response_model=ReviewDecision,
                 summary="Decide a member's final level (a unit administrator over the member's unit); the answer "
                         "warns when the unit's share of excellent members passes the cap")
    async def decide_review(member_id: str, body: ReviewDecisionCreate, request: Request, user: CurrentUser,
                            year: ReviewYear):
        async def work(db):
            done = await reviews.decide(db, user, year, parse_uuid(member_id, "member_id"), level=body.level)
            return json_response({"review": picked(done["review"], STAFF_REVIEW_FIELDS), "check": done["check"]})
        return await idempotent(request, user, work)

    @router.post("/me/reviews", response_model=MyReview,
                 summary="Write (or rewrite) your self-assessment of the year and propose your level, until the "
                         "cycle's deadline")
    async def submit_review(body: SelfAssessment, request: Request, user: CurrentUser):
        async def work(db):
            written = await reviews.submit(db, user, year=body.year, self_assessment=body.self_assessment,
                                           proposed_level=body.proposed_level)
            return json_response(picked(written, MY_REVIEW_FIELDS))
        return await idempotent(request, user, work)

    @router.get("/me/reviews", response_model=MyReviews,
                summary="Your reviews, the latest year first: what you wrote, the cell's proposal, the decided level")
    async def my_reviews(user: CurrentUser):
        async with engine.connect() as db:
            items = await reviews.own(db, user)
        return json_response({"items": [picked(r, MY_REVIEW_FIELDS) for r in items]})

    # --- breach readiness (docs/breach-runbook.md) ---------------------------------------------

    def asked(body: AccessHistoryQuery) -> dict[str, Any]:
        return {"member_ids": body.member_ids, "card_nos": body.party_card_nos, "account": body.account,
                "since": body.since, "until": body.until, "reason": body.reason}

    @router.post("/access-history", response_model=AccessHistory,
                 summary="Who read the records of a set of members (ids or card numbers), or what a staff account "
                         "read, over a period (the organisation board; audited)")
    async def access_history(body: AccessHistoryPage, user: CurrentUser):
        async with engine.begin() as db:
            history = await breach.access_history(db, user, **asked(body), limit=body.limit)
        return json_response(access_history_json(history))

    @router.post("/access-history/export.{fmt}", response_class=Response,
                 summary="The access history as a CSV or XLSX file for the authority's breach notification "
                         "(Vietnamese headers, Hanoi time; audited)",
                 responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}},
                                              "text/csv": {"schema": {"type": "string"}}},
                                  "description": "The file"}})
    async def access_history_export(fmt: Literal["csv", "xlsx"], body: AccessHistoryQuery, user: CurrentUser):
        async with engine.begin() as db:
            history = await breach.access_history(db, user, **asked(body), limit=breach.MAX_EXPORT_ROWS,
                                                  purpose="breach_notification")
            if history["truncated"]:  # refused before the transaction, and its audit row, are committed
                raise invalid([("until", f"more than {breach.MAX_EXPORT_ROWS} reads: export a shorter period at "
                                         "a time")])
        name, data = access_export.notification_file(
            fmt, history, made_by=user.subject, made_at=datetime.now(UTC), since=body.since, until=body.until,
            account=body.account, reason=body.reason)
        return Response(data, media_type=access_export.MEDIA_TYPES[fmt], headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    @router.get("/alerts", response_model=UnusualReadAlerts,
                summary="Unusual-read alerts: staff accounts that opened more full records within an hour than "
                        "the threshold (the city's operators)")
    async def list_alerts(user: CurrentUser, status: Literal["open", "all"] = "open"):
        async with engine.connect() as db:
            items = await breach.list_alerts(db, user, open_only=status == "open")
        return json_response({"items": [alert_json(a) for a in items]})

    @router.post("/alerts/{alert_id}/close", response_model=UnusualReadAlert,
                 summary="Close an unusual-read alert, saying what was found (the city's operators)")
    async def close_alert(alert_id: str, body: AlertClose, user: CurrentUser):
        async with engine.begin() as db:
            closed = await breach.close_alert(db, user, parse_uuid(alert_id), body.note)
        return json_response(alert_json(closed))

    # --- imports ------------------------------------------------------------------

    @router.post("/imports", status_code=202, summary="Import members from a CSV or XLSX file",
                 response_model=ImportStarted,
                 responses={200: {"model": ImportStatus, "description": "Imported (with `wait=true`)"}},
                 openapi_extra=body_limit(MAX_UPLOAD_BYTES + MULTIPART_SLACK))
    async def upload_import(user: CurrentUser, file: UploadFile = File(...), wait: bool = False):
        allowed_paths = await imports.importable_paths(engine, user)
        filename = file.filename or "upload"
        if problems := unstorable({"file": filename}):
            raise invalid(problems)
        # The import outlives the request (whose upload is closed with it): a copy of its own, on disk,
        # read row by row (adapters/import_files.py), and removed once read.
        spooled = await spool_upload(file, MAX_UPLOAD_BYTES)
        import_id, task = await running_imports.start(user, filename, spooled, allowed_paths)
        location = f"/api/members/v1/imports/{import_id}"
        if wait:
            await task
            found = await imports.read_import(engine, user, import_id)
            return json_response(import_json(found), 200, {"Location": location})
        return json_response({"id": str(import_id), "status": "running"}, 202, {"Location": location})

    @router.get("/imports/template.xlsx", summary="The import template: the Vietnamese column headers and an "
                "example row", response_class=Response,
                responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}}},
                                 "description": "An XLSX workbook"}})
    async def import_template(user: CurrentUser):
        await imports.importable_paths(engine, user)  # for those who import (403 for the others)
        return Response(imports.template(), media_type=XLSX, headers={
            "Content-Disposition": 'attachment; filename="mau-nhap-dang-vien.xlsx"', "Cache-Control": "no-store"})

    @router.get("/imports/{import_id}", summary="Progress and per-row errors of an import",
                response_model=ImportStatus)
    async def get_import(import_id: str, user: CurrentUser):
        found = await imports.read_import(engine, user, parse_uuid(import_id))
        return json_response(import_json(found))

    # --- reconciliation with the national database (docs/reconcile.md) -------------------------------

    @router.post("/reconciliations", status_code=201, response_model=Reconciliation,
                 summary="Compare an export of the national member database (CSDL đảng viên 3.0; CSV or XLSX, the "
                         "import's columns) with the registry in the caller's units: counts per unit of new, changed "
                         "and missing members and of conflicts with pending correction requests. Nothing changes "
                         "until applied; a bad row refuses the file (422 naming the row and column).",
                 openapi_extra=body_limit(MAX_UPLOAD_BYTES + MULTIPART_SLACK))
    async def upload_reconciliation(user: CurrentUser, file: UploadFile = File(...)):
        async with engine.connect() as db:
            await reconcile.reconcilable_paths(db, user)  # 403 before the upload is read
        filename = file.filename or "upload"
        if problems := unstorable({"file": filename}):
            raise invalid(problems)
        spooled = await spool_upload(file, MAX_UPLOAD_BYTES)
        try:
            rec = await reconcile.reconcile_file(ctx, user, spooled, filename, today=hanoi_day())
        finally:
            spooled.close()
        return json_response(reconcile.summary_json(rec), 201,
                             {"Location": f"/api/members/v1/reconciliations/{rec['id']}"})

    @router.get("/reconciliations", response_model=Reconciliations,
                summary="The latest reconciliations of the caller's units (newest first)")
    async def list_reconciliations(user: CurrentUser):
        async with engine.connect() as db:
            items = await reconcile.list_for(db, user)
        return json_response({"items": [reconcile.summary_json(r) for r in items]})

    @router.get("/reconciliations/{reconciliation_id}", response_model=Reconciliation,
                summary="A reconciliation's summary (counts per unit)")
    async def get_reconciliation(reconciliation_id: str, user: CurrentUser):
        async with engine.connect() as db:
            rec = await reconcile.for_writer(db, user, parse_uuid(reconciliation_id))
        return json_response(reconcile.summary_json(rec))

    @router.get("/reconciliations/{reconciliation_id}/report.{fmt}", response_class=Response,
                summary="The reconciliation's report: XLSX (a title row with the day, the summary per unit and "
                        "each difference, Vietnamese headings) or CSV (the differences; UTF-8 with a BOM). "
                        "Audited as a read of the members listed.",
                responses={200: {"content": {XLSX: {"schema": {"type": "string", "format": "binary"}},
                                             "text/csv": {"schema": {"type": "string"}}},
                                 "description": "The file"}})
    async def reconciliation_report(reconciliation_id: str, fmt: Literal["csv", "xlsx"], user: CurrentUser):
        async with engine.begin() as db:
            name, data = await reconcile.report(db, user, parse_uuid(reconciliation_id), fmt)
        return Response(data, media_type=reconcile_files.MEDIA_TYPES[fmt], headers={
            "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})

    @router.post("/reconciliations/{reconciliation_id}/apply", response_model=Reconciliation,
                 summary="Apply the differences (once; 409 after): new members registered, changed ones "
                         "transferred, their standing or record changed, each with its event; members missing from "
                         "the export are not deleted; fields a pending correction request also changes are held "
                         "back")
    async def apply_reconciliation(reconciliation_id: str, request: Request, user: CurrentUser):
        rec_id = parse_uuid(reconciliation_id)

        async def work(db):  # applied in transactions of its own, a chunk of members each
            rec = await reconcile.apply(ctx, user, rec_id, today=hanoi_day())
            return json_response(reconcile.summary_json(rec))
        return await idempotent(request, user, work)

    return router
