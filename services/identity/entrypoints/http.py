"""HTTP API of identity (/api/identity/v1/...)."""

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from services.identity import handlers
from services.identity.adapters import keys as signing_keys
from services.identity.adapters import store
from services.identity.domain import password_problems
from services.members.domain import normalise_card_no, normalise_name, normalise_phone, normalised_or_none
from sotay.auth import ROLES, Principal
from sotay.http import (
    PROBLEM_RESPONSES, Problem, bearer_principal, invalid, json_response, parse_time_cursor, time_cursor,
)

ACCEPTED = {"status": "received",
            "message": "Your registration was received. Your unit will check it against the registry; "
                       "sign in once it is approved."}


class RegistrationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party_card_no: str = Field(max_length=20)
    full_name: str = Field(max_length=200)
    date_of_birth: date
    phone: str = Field(max_length=30)
    password: str = Field(max_length=1024)
    platform: Literal["web", "mobile"]


class StatusQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    party_card_no: str = Field(max_length=20)
    password: str = Field(max_length=1024)


class Rejection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


class BulkApproval(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[uuid.UUID] = Field(min_length=1, max_length=1000)


class RoleGrant(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Literal["member", "cell_secretary", "unit_admin", "editor", "chief_editor", "city_admin"]
    unit: str = Field(max_length=40)


def registration_json(r: dict[str, Any]) -> dict[str, Any]:
    return {"id": str(r["id"]), "party_card_no": r["party_card_no"], "full_name": r["full_name"],
            "date_of_birth": r["date_of_birth"].isoformat(), "platform": r["platform"],
            "match_result": r["match_result"], "match_reasons": r["match_reasons"],
            "member_id": str(r["member_id"]) if r["member_id"] else None, "unit": r["unit"],
            "committee": r["committee"], "status": r["status"], "reason": r["reason"],
            "decided_by": r["decided_by"], "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None,
            "submitted_at": r["submitted_at"].isoformat(), "overdue": bool(r.get("overdue"))}


def _parse_registration(body: RegistrationCreate) -> handlers.RegistrationInput:
    errors, values = [], {}
    for field, normalise in (("party_card_no", normalise_card_no), ("full_name", normalise_name),
                             ("phone", normalise_phone)):
        try:
            values[field] = normalise(getattr(body, field))
        except ValueError as exc:
            errors.append((field, str(exc)))
    if not errors:
        errors += [("password", p) for p in password_problems(
            body.password, card_no=values["party_card_no"], phone=values["phone"])]
    if body.date_of_birth > date.today():
        errors.append(("date_of_birth", "cannot be in the future"))
    if errors:
        raise invalid(errors)
    return handlers.RegistrationInput(date_of_birth=body.date_of_birth, password=body.password,
                                      platform=body.platform, **values)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def build_router(app) -> APIRouter:
    """`app` is the identity composition root (services.identity.IdentityApp)."""
    ctx = app.ctx
    router = APIRouter(tags=["identity"], responses=PROBLEM_RESPONSES)
    CurrentUser = Annotated[Principal, Depends(bearer_principal(ctx.verifier))]
    engine = ctx.engine

    @router.post("/registrations", status_code=202, summary="Register an account (it waits for approval)")
    async def register(body: RegistrationCreate, request: Request):
        data = _parse_registration(body)

        # Hashed before the transaction, which would otherwise hold a connection while it waits for the hash.
        password_hash = await app.passwords.hash(data.password)

        async def work(db):
            reg = await handlers.register(db, ctx, data, password_hash)
            # The same answer whatever the match: nothing tells whether a card number exists.
            return json_response({**ACCEPTED, "id": str(reg["id"])}, 202)
        return await ctx.idempotency.run(request, "anonymous", work)

    @router.post("/registrations/status", summary="A registrant's own registration: status and reason")
    async def registration_status(body: StatusQuery, request: Request):
        key = f"status:{body.party_card_no}"
        had_failures = await app.refuse_if_throttled(key, client_address(request))
        async with engine.connect() as db:
            rows = await store.recent_registrations(db, normalised_or_none(normalise_card_no, body.party_card_no) or "")
        for row in rows or [None]:
            if await app.passwords.verify(row["password_hash"] if row else None, body.password):
                if had_failures:
                    await app.succeeded(key)
                return {"id": str(row["id"]), "status": row["status"], "reason": row["reason"],
                        "submitted_at": row["submitted_at"].isoformat()}
        await app.failed(key, client_address(request))
        raise Problem(404, "Not found", "No registration matches this card number and password.")

    @router.get("/registrations", summary="The caller's approval queue")
    async def approval_queue(user: CurrentUser, status: Literal["pending", "approved", "rejected"] | None = "pending",
                             match: Literal["matched", "not_in_registry", "details_differ", "already_registered",
                                            "not_eligible"] | None = None,
                             older_than_days: int | None = Query(None, ge=0, le=3650),
                             overdue: bool | None = None, cursor: str | None = None,
                             limit: int = Query(100, ge=1, le=1000)):
        async with engine.connect() as db:
            paths = await handlers.scopes(db, user)
            if not paths:
                raise handlers.forbidden()
            if overdue:
                older_than_days = max(older_than_days or 0, ctx.settings.approval_overdue_days)
            after = parse_time_cursor(cursor)
            rows = await store.queue(db, scopes=paths, status=status, match=match, older_than_days=older_than_days,
                                     overdue_days=ctx.settings.approval_overdue_days, limit=limit + 1, after=after)
        page, more = rows[:limit], len(rows) > limit
        next_cursor = time_cursor(page[-1]["submitted_at"], page[-1]["id"]) if more else None
        return {"items": [registration_json(r) for r in page], "next_cursor": next_cursor}

    @router.get("/registrations/{reg_id}", summary="One registration in the caller's units")
    async def get_registration(reg_id: uuid.UUID, user: CurrentUser):
        async with engine.connect() as db:
            reg = await store.registration(db, reg_id)
            if reg is None or not handlers.covers(await handlers.scopes(db, user), reg["unit_path"]):
                raise handlers.forbidden()
        return registration_json(reg)

    @router.post("/registrations/{reg_id}/approve", summary="Approve a registration")
    async def approve(reg_id: uuid.UUID, request: Request, user: CurrentUser):
        async def work(db):
            return json_response(await handlers.approve(db, ctx, user, reg_id))
        return await ctx.idempotency.run(request, user.subject, work)

    @router.post("/registrations/{reg_id}/reject", summary="Reject a registration (reason required)")
    async def reject(reg_id: uuid.UUID, body: Rejection, request: Request, user: CurrentUser):
        async def work(db):
            return json_response(await handlers.reject(db, ctx, user, reg_id, body.reason))
        return await ctx.idempotency.run(request, user.subject, work)

    @router.post("/registrations/approve", summary="Approve many matched registrations")
    async def approve_many(body: BulkApproval, request: Request, user: CurrentUser):
        async def work(db):
            results = await handlers.approve_many(db, ctx, user, body.ids)
            return json_response({"results": results,
                                  "approved": sum(r["status"] == "approved" for r in results)})
        return await ctx.idempotency.run(request, user.subject, work)

    @router.post("/token", summary="OAuth2 token endpoint: password and refresh_token grants")
    async def token(request: Request, grant_type: Annotated[str, Form()],
                    username: Annotated[str | None, Form(max_length=30)] = None,
                    password: Annotated[str | None, Form(max_length=1024)] = None,
                    refresh_token: Annotated[str | None, Form(max_length=200)] = None):
        if grant_type == "password":
            if not username or not password:
                raise invalid([("username" if not username else "password", "is required")])
            card, phone = _login_names(username)
            key = f"login:{card or phone or username.strip()}"
            had_failures = await app.refuse_if_throttled(key, client_address(request))
            try:
                async with engine.begin() as db:
                    issued = await handlers.sign_in(db, app.issuer, app.passwords, card, phone, password)
            except Problem:
                await app.failed(key, client_address(request))
                raise
            if had_failures:  # most sign-ins follow none: no write for them
                await app.succeeded(key)
            return json_response(issued, headers={"Cache-Control": "no-store"})
        if grant_type == "refresh_token":
            if not refresh_token:
                raise invalid([("refresh_token", "is required")])
            async with engine.begin() as db:
                issued = await handlers.refresh(db, app.issuer, refresh_token)
            if isinstance(issued, Problem):
                raise issued
            return json_response(issued, headers={"Cache-Control": "no-store"})
        raise Problem(400, "Unsupported grant type", "Use password or refresh_token.", error="unsupported_grant_type",
                      errors=[{"field": "grant_type", "reason": "must be password or refresh_token"}])

    @router.get("/.well-known/jwks.json", summary="Public keys that verify sotay tokens")
    async def jwks():
        return json_response(signing_keys.jwks(app.issuer.keys), headers={"Cache-Control": "max-age=300"})

    @router.get("/me", summary="The signed-in account")
    async def me(user: CurrentUser):
        return {"subject": user.subject, "card": user.member_card_no,
                "roles": [{"role": g.role, "unit": g.unit} for g in user.grants]}

    @router.post("/accounts/{account_id}/grants", status_code=201, summary="Grant a role within your subtree")
    async def grant(account_id: uuid.UUID, body: RoleGrant, user: CurrentUser):
        if body.role not in ROLES:
            raise invalid([("role", "is not a role")])
        async with engine.begin() as db:
            await handlers.grant_role(db, user, account_id, body.role, body.unit)
            roles = await store.grants_of(db, account_id)
        return json_response({"account_id": str(account_id), "roles": [{"role": r, "unit": u} for r, u in roles]},
                             201)

    return router


def _login_names(username: str) -> tuple[str | None, str | None]:
    """The card number and the phone a username may be, written any way the member writes it."""
    return normalised_or_none(normalise_card_no, username), normalised_or_none(normalise_phone, username)
