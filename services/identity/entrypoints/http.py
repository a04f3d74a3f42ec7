"""HTTP API of identity (/api/identity/v1/...)."""

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from services.identity import handlers
from services.identity.adapters import keys as signing_keys
from services.identity.adapters import store
from services.identity.adapters.passwords import PoolBusy
from services.identity.domain import comparison, password_problems
from sotay.contracts.fields import normalise_card_no, normalise_name, normalise_phone, normalised_or_none
from sotay.kit.auth import Principal
from sotay.kit.http import (
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


class Disabling(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=1000)


# The web keeps a sign-in's refresh token where no script can read it: this cookie, sent back
# to the token endpoint only (its path), never to another site (SameSite=Strict).
REFRESH_COOKIE = "sotay_refresh"
TOKEN_PATH = "/api/identity/v1/token"


def registration_json(r: dict[str, Any]) -> dict[str, Any]:
    """A registration as its approver sees it, with the registry's details beside the given ones."""
    registry = None if r.get("registry_date_of_birth") is None else {
        "full_name": r["registry_full_name"], "date_of_birth": r["registry_date_of_birth"].isoformat(),
        "phone_tail": r["registry_phone_tail"]}
    given = {"full_name": r["full_name"], "date_of_birth": r["date_of_birth"].isoformat(), "phone": r.get("phone")}
    return {"id": str(r["id"]), "party_card_no": r["party_card_no"], "full_name": r["full_name"],
            "date_of_birth": r["date_of_birth"].isoformat(), "platform": r["platform"],
            "match_result": r["match_result"], "match_reasons": r["match_reasons"],
            "comparison": comparison(given, registry, r["match_reasons"]),
            "member_id": str(r["member_id"]) if r["member_id"] else None, "unit": r["unit"],
            "committee": r["committee"], "status": r["status"], "reason": r["reason"],
            "decided_by": r["decided_by"], "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None,
            "submitted_at": r["submitted_at"].isoformat(), "overdue": bool(r.get("overdue"))}


def busy(exc: PoolBusy) -> Problem:
    return Problem(503, "Busy", f"Too many sign-ins and registrations at once; try again in {exc.retry_after} "
                   "seconds.", retry_after=exc.retry_after)


def tokens_response(issued: dict[str, Any], *, in_cookie: bool, max_age_s: int) -> Response:
    """The token endpoint's answer; with `in_cookie`, the refresh token goes into the HttpOnly
    cookie instead of the body, so no script of the page ever holds it."""
    if not in_cookie:
        return json_response(issued, headers={"Cache-Control": "no-store"})
    body = {k: v for k, v in issued.items() if k != "refresh_token"}
    response = json_response(body, headers={"Cache-Control": "no-store"})
    response.set_cookie(REFRESH_COOKIE, issued["refresh_token"], max_age=max_age_s, path=TOKEN_PATH,
                        secure=True, httponly=True, samesite="strict")
    return response


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
    """The client's address: the peer's, or the one a trusted proxy forwarded (uvicorn puts it
    there when the peer is one of SOTAY_TRUSTED_PROXIES)."""
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
        async with engine.begin() as db:
            await handlers.registration_budget(db, app.throttles, app.address_hash(client_address(request)))
        # Hashed before the transaction, which would otherwise hold a connection while it waits for the hash.
        try:
            password_hash = await app.passwords.hash(data.password)
        except PoolBusy as exc:
            raise busy(exc) from None

        async def work(db):
            reg = await handlers.register(db, ctx, data, password_hash)
            # The same answer whatever the match: nothing tells whether a card number exists.
            return json_response({**ACCEPTED, "id": str(reg["id"])}, 202)
        return await ctx.idempotency.run(request, "anonymous", work)

    @router.post("/registrations/status", summary="A registrant's own registration: status and reason")
    async def registration_status(body: StatusQuery, request: Request):
        card = normalised_or_none(normalise_card_no, body.party_card_no)
        attempt = handlers.attempt(f"status:{app.keyed(card or body.party_card_no.strip())}",
                                   app.address_hash(client_address(request)))
        async with engine.connect() as db:
            had_failures = await handlers.refuse_if_throttled(db, app.throttles, attempt)
            rows = await store.recent_registrations(db, card or "")
        try:
            for row in rows or [None]:
                if await app.passwords.verify(row["password_hash"] if row else None, body.password):
                    if had_failures:
                        async with engine.begin() as db:
                            await store.clear_windows(db, [attempt.pair])
                    return {"id": str(row["id"]), "status": row["status"], "reason": row["reason"],
                            "submitted_at": row["submitted_at"].isoformat()}
        except PoolBusy as exc:
            raise busy(exc) from None
        async with engine.begin() as db:
            await app.throttles.record(db, attempt.failure_keys)
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
            reg = await store.registration_for_approver(db, reg_id)
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

    refresh_max_age = ctx.settings.refresh_token_ttl_days * 86400

    @router.post("/token", summary="OAuth2 token endpoint: password and refresh_token grants")
    async def token(request: Request, grant_type: Annotated[str, Form()],
                    username: Annotated[str | None, Form(max_length=30)] = None,
                    password: Annotated[str | None, Form(max_length=1024)] = None,
                    refresh_token: Annotated[str | None, Form(max_length=200)] = None,
                    refresh_delivery: Annotated[Literal["body", "cookie"], Form()] = "body"):
        in_cookie = refresh_delivery == "cookie"
        if grant_type == "password":
            if not username or not password:
                raise invalid([("username" if not username else "password", "is required")])
            issued = await _sign_in(request, username, password)
            return tokens_response(issued, in_cookie=in_cookie, max_age_s=refresh_max_age)
        if grant_type == "refresh_token":
            presented = refresh_token or request.cookies.get(REFRESH_COOKIE)
            if not presented:
                raise invalid([("refresh_token", "is required")])
            async with engine.begin() as db:
                issued = await handlers.refresh(db, app.issuer, presented)
            if isinstance(issued, Problem):
                raise issued
            return tokens_response(issued, in_cookie=in_cookie or refresh_token is None, max_age_s=refresh_max_age)
        raise Problem(400, "Unsupported grant type", "Use password or refresh_token.", error="unsupported_grant_type",
                      errors=[{"field": "grant_type", "reason": "must be password or refresh_token"}])

    async def _sign_in(request: Request, username: str, password: str) -> dict[str, Any]:
        """A password sign-in behind its throttles (handlers.refuse_if_throttled)."""
        card, phone = _login_names(username)
        address = app.address_hash(client_address(request))
        async with engine.connect() as db:
            account = await store.account_for_login(db, card, phone)
            known = account is not None and await store.known_address(
                db, account["id"], address, handlers.KNOWN_ADDRESS_DAYS) is not None
            name = f"account:{account['id']}" if account else f"name:{app.keyed(card or phone or username.strip())}"
            attempt = handlers.attempt(name, address, known=known)
            had_failures = await handlers.refuse_if_throttled(db, app.throttles, attempt)
        try:
            async with engine.begin() as db:
                issued = await handlers.sign_in(db, app.issuer, app.passwords, account, password)
                if not known:
                    await store.remember_address(db, account["id"], address)
                if had_failures:  # most sign-ins follow none: no write for them
                    await store.clear_windows(db, [attempt.pair])
        except PoolBusy as exc:
            raise busy(exc) from None
        except Problem:
            async with engine.begin() as db:
                await app.throttles.record(db, attempt.failure_keys)
            raise
        return issued

    @router.post("/token/revoke", status_code=200, summary="Sign out: end the sign-in of a refresh token (RFC 7009)")
    async def revoke_token(request: Request, token: Annotated[str | None, Form(max_length=200)] = None):
        presented = token or request.cookies.get(REFRESH_COOKIE)
        if presented:
            async with engine.begin() as db:
                await handlers.end_sign_in(db, presented)
        response = json_response({"revoked": True}, headers={"Cache-Control": "no-store"})
        response.delete_cookie(REFRESH_COOKIE, path=TOKEN_PATH, secure=True, httponly=True, samesite="strict")
        return response

    @router.get("/.well-known/jwks.json", summary="Public keys that verify sotay tokens")
    async def jwks():
        return json_response(signing_keys.jwks(app.issuer.keys), headers={"Cache-Control": "max-age=300"})

    @router.get("/me", summary="The signed-in account")
    async def me(user: CurrentUser):
        return {"subject": user.subject, "card": user.member_card_no,
                "roles": [{"role": g.role, "unit": g.unit} for g in user.grants]}

    @router.post("/accounts/{account_id}/grants", status_code=201, summary="Grant a role within your subtree")
    async def grant(account_id: uuid.UUID, body: RoleGrant, user: CurrentUser):
        async with engine.begin() as db:
            await handlers.grant_role(db, user, account_id, body.role, body.unit)
            roles = await store.grants_of(db, account_id)
        return json_response({"account_id": str(account_id), "roles": [{"role": r, "unit": u} for r, u in roles]},
                             201)

    @router.post("/accounts/{account_id}/grants/revoke", summary="Take a role away (its sessions end everywhere)")
    async def revoke(account_id: uuid.UUID, body: RoleGrant, user: CurrentUser):
        async with engine.begin() as db:
            await handlers.revoke_role(db, user, account_id, body.role, body.unit, end_sessions=app.end_sessions)
            roles = await store.grants_of(db, account_id)
        return json_response({"account_id": str(account_id), "roles": [{"role": r, "unit": u} for r, u in roles]})

    @router.post("/accounts/{account_id}/disable", summary="Disable a staff account (its sessions end everywhere)")
    async def disable(account_id: uuid.UUID, body: Disabling, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await handlers.disable_account(db, user, account_id, body.reason,
                                                                end_sessions=app.end_sessions))

    return router


def _login_names(username: str) -> tuple[str | None, str | None]:
    """The card number and the phone a username may be, written any way the member writes it."""
    return normalised_or_none(normalise_card_no, username), normalised_or_none(normalise_phone, username)
