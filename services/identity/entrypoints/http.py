"""HTTP API of identity (/api/identity/v1/...): parse the request, call a handler, shape
the response. The bodies are in models.py."""

import uuid
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from services.identity.domain import (
    client_summary,
    comparison,
    consent_problems,
    mask_phone,
    match_label,
    password_problems,
)
from services.identity.entrypoints.models import (
    AccountRoles,
    AccountStatus,
    BulkApproval,
    BulkDecision,
    ConsentChange,
    ConsentsByUnit,
    ConsentWithdrawal,
    Decision,
    Disabling,
    Jwks,
    Me,
    OwnConsents,
    OwnRegistration,
    PrivacyNotice,
    Registration,
    RegistrationCreate,
    RegistrationPage,
    RegistrationReceived,
    Rejection,
    ResetAccount,
    ResetCode,
    ResetDone,
    ResetLookup,
    ResetRedeem,
    Revoked,
    RoleGrant,
    ServerMetadata,
    StatusQuery,
    Tokens,
)
from services.identity.entrypoints.oauth import (
    TOKEN_FORM,
    TOKEN_RESPONSES,
    invalid_request,
    oauth_error_response,
    oauth_metadata,
    token_form,
)
from services.identity.handlers import (
    accounts,
    approvals,
    consents,
    registrations,
    resets,
    roles,
    sign_in,
    subject,
)
from sotay.contracts.fields import (
    normalise_card_no,
    normalise_name,
    normalise_phone,
    normalised_or_none,
)
from sotay.contracts.subject import SubjectData
from sotay.kit.deps import CurrentUser, service_router
from sotay.kit.http import Problem, ProblemException, invalid, json_response

ACCEPTED = {"status": "received",
            "message": "Your registration was received. Your unit will check it against the registry; "
                       "sign in once it is approved."}

# The web keeps a sign-in's refresh token where no script can read it: this cookie, sent back
# to the token endpoint only (its path), never to another site (SameSite=Strict).
REFRESH_COOKIE = "sotay_refresh"
TOKEN_PATH = "/api/identity/v1/token"


def registration_json(r: dict[str, Any]) -> dict[str, Any]:
    """A registration as its approver sees it, with the registry's details beside the given ones."""
    registry = {"phone_tail": r["registry_phone_tail"]} if r.get("registry_found") else None
    given = {"full_name": r["full_name"], "date_of_birth": r["date_of_birth"].isoformat(), "phone": r.get("phone")}
    return {"id": str(r["id"]), "party_card_no": r["party_card_no"], "full_name": r["full_name"],
            "date_of_birth": r["date_of_birth"].isoformat(), "platform": r["platform"],
            "match_result": r["match_result"], "match_reasons": r["match_reasons"],
            "match_label": match_label(r["match_result"], r["match_reasons"], has_account=bool(r.get("has_account"))),
            "given_phone": mask_phone(r.get("phone")),
            "comparison": comparison(given, registry, r["match_reasons"]),
            "member_id": str(r["member_id"]) if r["member_id"] else None, "unit": r["unit"],
            "committee": r["committee"], "status": r["status"], "reason": r["reason"],
            "decided_by": r["decided_by"], "decided_at": r["decided_at"].isoformat() if r["decided_at"] else None,
            "submitted_at": r["submitted_at"].isoformat(), "overdue": bool(r.get("overdue")),
            "escalated_at": r["escalated_at"].isoformat() if r.get("escalated_at") else None,
            "escalated_to": r.get("escalated_to")}


def roles_json(account_id: uuid.UUID, held: list[tuple[str, str]]) -> dict[str, Any]:
    return {"account_id": str(account_id), "roles": [{"role": r, "unit": u} for r, u in held]}


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


def parse_registration(body: RegistrationCreate) -> registrations.RegistrationInput:
    """The registration as normalised, or 422 naming each field that is not right."""
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
    if body.consent is not None:
        errors += [(f"consent.{field}", reason) for field, reason in
                   consent_problems(body.consent.notice_version, body.consent.purposes)]
    if errors:
        raise invalid(errors)
    consent = consents.Consent(body.consent.notice_version, tuple(body.consent.purposes)) if body.consent else None
    return registrations.RegistrationInput(date_of_birth=body.date_of_birth, password=body.password,
                                           platform=body.platform, consent=consent, **values)


def login_names(username: str) -> tuple[str | None, str | None]:
    """The card number and the phone a username may be, written any way the member writes it."""
    return normalised_or_none(normalise_card_no, username), normalised_or_none(normalise_phone, username)


def client_address(request: Request) -> str:
    """The client's address: the peer's, or the one a trusted proxy forwarded (uvicorn puts it
    there when the peer is one of SOTAY_TRUSTED_PROXIES)."""
    return request.client.host if request.client else "unknown"


def consent_client(app, request: Request) -> consents.Client:
    """What a consent keeps of its client: the user agent in a few words, the address's keyed hash."""
    return consents.Client(client_summary(request.headers.get("user-agent")),
                           app.address_hash(client_address(request)))


def build_root_router(app) -> APIRouter:
    """The top of the site's /.well-known/ documents, where OAuth clients look first: the JWKS, and
    the server's metadata both at its plain name and at RFC 8414 §3's (the issuer's path after it)."""
    router = APIRouter(tags=["identity"])

    @router.get("/.well-known/jwks.json", response_model=Jwks, summary="Public keys that verify sotay tokens")
    async def jwks():
        return json_response(sign_in.published_keys(app.issuer), headers={"Cache-Control": "max-age=300"})

    @router.get("/.well-known/oauth-authorization-server", response_model=ServerMetadata,
                summary="The authorization server's metadata (RFC 8414)")
    @router.get("/.well-known/oauth-authorization-server/api/identity/v1", response_model=ServerMetadata,
                include_in_schema=False)
    async def server_metadata(request: Request):
        return json_response(oauth_metadata(request), headers={"Cache-Control": "max-age=300"})
    return router


def build_router(app) -> APIRouter:
    """`app` is the identity composition root (services.identity.IdentityApp)."""
    ctx = app.ctx
    router = service_router(ctx, tags=["identity"])
    engine, reader = ctx.engine, ctx.reader

    @router.post("/registrations", status_code=202, response_model=RegistrationReceived,
                 summary="Register an account (it waits for approval)")
    async def register(body: RegistrationCreate, request: Request):
        data = parse_registration(body)
        password_hash = await registrations.admit(reader, app.throttles, app.passwords,
                                                  app.address_hash(client_address(request)), data.password)

        async def work(db):
            reg = await registrations.register(db, ctx, data, password_hash, consent_client(app, request))
            # The same answer whatever the match: nothing tells whether a card number exists.
            return json_response({**ACCEPTED, "id": str(reg["id"])}, 202)
        # On asyncpg's own connection (the registration's statements are the kit's Statements, sotay/kit/db.py).
        return await ctx.idempotency.run_on_driver(request, "anonymous", work)

    @router.post("/registrations/status", response_model=OwnRegistration,
                 summary="A registrant's own registration: status and reason")
    async def registration_status(body: StatusQuery, request: Request):
        card = normalised_or_none(normalise_card_no, body.party_card_no)
        row = await registrations.own_registration(
            engine, app.throttles, app.passwords, card=card, name_key=app.keyed(card or body.party_card_no.strip()),
            address_hash=app.address_hash(client_address(request)), password=body.password)
        return json_response({"id": str(row["id"]), "status": row["status"], "reason": row["reason"],
                              "submitted_at": row["submitted_at"].isoformat()})

    @router.get("/registrations", response_model=RegistrationPage, summary="The caller's approval queue")
    async def approval_queue(user: CurrentUser, status: Literal["pending", "approved", "rejected"] | None = "pending",
                             match: Literal["matched", "not_in_registry", "details_differ", "already_registered",
                                            "not_eligible"] | None = None,
                             older_than_days: int | None = Query(None, ge=0, le=3650),
                             newer_than_days: int | None = Query(None, ge=0, le=3650),
                             unit: str | None = Query(None, min_length=1, max_length=64,
                                                      description="Only this unit's subtree (a cell, say)"),
                             overdue: bool | None = None, cursor: str | None = None,
                             escalated: bool | None = Query(None, description="only those escalated to the unit "
                                                                             "above (true) or not (false)"),
                             limit: int = Query(100, ge=1, le=1000)):
        async with engine.connect() as db:
            page, next_cursor = await approvals.queue(
                db, user, status=status, match=match, older_than_days=older_than_days, overdue=overdue,
                overdue_days=ctx.settings.approval_overdue_days, limit=limit, cursor=cursor, unit=unit,
                newer_than_days=newer_than_days, escalated=escalated)
        return json_response({"items": [registration_json(r) for r in page], "next_cursor": next_cursor})

    @router.get("/registrations/{reg_id}", response_model=Registration,
                summary="One registration in the caller's units")
    async def get_registration(reg_id: uuid.UUID, user: CurrentUser):
        async with engine.connect() as db:
            reg = await approvals.registration_for_approver(db, user, reg_id)
        return json_response(registration_json(reg))

    @router.post("/registrations/{reg_id}/approve", response_model=Decision, summary="Approve a registration")
    async def approve(reg_id: uuid.UUID, request: Request, user: CurrentUser):
        async def work(db):
            return json_response(await approvals.approve(db, ctx, user, reg_id))
        return await ctx.idempotency.run(request, user.subject, work)

    @router.post("/registrations/{reg_id}/reject", response_model=Decision,
                 summary="Reject a registration (reason required)")
    async def reject(reg_id: uuid.UUID, body: Rejection, request: Request, user: CurrentUser):
        async def work(db):
            return json_response(await approvals.reject(db, ctx, user, reg_id, body.reason))
        return await ctx.idempotency.run(request, user.subject, work)

    @router.post("/registrations/approve", response_model=BulkDecision,
                 summary="Approve many matched registrations")
    async def approve_many(body: BulkApproval, request: Request, user: CurrentUser):
        async def work(db):
            results = await approvals.approve_many(db, ctx, user, body.ids)
            return json_response({"results": results,
                                  "approved": sum(r["status"] == "approved" for r in results)})
        return await ctx.idempotency.run(request, user.subject, work)

    refresh_max_age = ctx.settings.refresh_token_ttl_days * 86400

    @router.post("/token", response_model=Tokens, responses=TOKEN_RESPONSES, openapi_extra=TOKEN_FORM,
                 summary="OAuth2 token endpoint: password and refresh_token grants")
    async def token(request: Request):
        # The form is read here, not by FastAPI, so that every refusal, even one at the door (a NUL
        # in a field, a body too large), is the error RFC 6749 §5.2 describes (oauth.py).
        try:
            return await token_grant(request, token_form(await request.form()))
        except ProblemException as exc:
            return oauth_error_response(exc.problem)
        except Problem as problem:
            return oauth_error_response(problem)

    async def token_grant(request: Request, form: dict[str, str]) -> Response:
        in_cookie = form.get("refresh_delivery") == "cookie"
        grant_type, refresh_token = form["grant_type"], form.get("refresh_token")
        if grant_type == "password":
            username, password = form.get("username"), form.get("password")
            if not username or not password:
                raise invalid_request("username" if not username else "password", "is required")
            card, phone = login_names(username)
            issued = await sign_in.password_sign_in(
                reader, app.issuer, app.passwords, app.throttles, card=card, phone=phone,
                name_key=app.keyed(card or phone or username.strip()), password=password,
                address_hash=app.address_hash(client_address(request)))
            return tokens_response(issued, in_cookie=in_cookie, max_age_s=refresh_max_age)
        if grant_type == "refresh_token":
            presented = refresh_token or request.cookies.get(REFRESH_COOKIE)
            if not presented:
                raise invalid_request("refresh_token", "is required")
            issued = await sign_in.refreshed(engine, app.issuer, presented)
            return tokens_response(issued, in_cookie=in_cookie or refresh_token is None, max_age_s=refresh_max_age)
        raise Problem(400, "Unsupported grant type", "Use password or refresh_token.", error="unsupported_grant_type",
                      errors=[{"field": "grant_type", "reason": "must be password or refresh_token"}])

    @router.post("/token/revoke", status_code=200, response_model=Revoked,
                 summary="Sign out: end the sign-in of a refresh token (RFC 7009)")
    async def revoke_token(request: Request, token: Annotated[str | None, Form(max_length=200)] = None):
        presented = token or request.cookies.get(REFRESH_COOKIE)
        if presented:
            async with engine.begin() as db:
                await sign_in.end_sign_in(db, presented)
        response = json_response({"revoked": True}, headers={"Cache-Control": "no-store"})
        response.delete_cookie(REFRESH_COOKIE, path=TOKEN_PATH, secure=True, httponly=True, samesite="strict")
        return response

    @router.get("/.well-known/jwks.json", response_model=Jwks, summary="Public keys that verify sotay tokens")
    async def jwks():
        return json_response(sign_in.published_keys(app.issuer), headers={"Cache-Control": "max-age=300"})

    @router.get("/.well-known/oauth-authorization-server", response_model=ServerMetadata,
                summary="The authorization server's metadata (RFC 8414)")
    async def server_metadata(request: Request):
        return json_response(oauth_metadata(request), headers={"Cache-Control": "max-age=300"})

    @router.get("/me", response_model=Me, summary="The signed-in account")
    async def me(user: CurrentUser):
        return json_response({"subject": user.subject, "card": user.member_card_no,
                              "roles": [{"role": g.role, "unit": g.unit} for g in user.grants]})

    @router.get("/me/data", response_model=SubjectData, summary="Everything identity holds about you")
    async def my_data(user: CurrentUser):
        async with engine.connect() as db:
            return json_response(await subject.held(db, user))

    @router.post("/accounts/{account_id}/grants", status_code=201, response_model=AccountRoles,
                 summary="Grant a role within your subtree")
    async def grant(account_id: uuid.UUID, body: RoleGrant, user: CurrentUser):
        async with engine.begin() as db:
            held = await roles.grant_role(db, user, account_id, body.role, body.unit)
        return json_response(roles_json(account_id, held), 201)

    @router.post("/accounts/{account_id}/grants/revoke", response_model=AccountRoles,
                 summary="Take a role away (its sessions end everywhere)")
    async def revoke(account_id: uuid.UUID, body: RoleGrant, user: CurrentUser):
        async with engine.begin() as db:
            held = await roles.revoke_role(db, user, account_id, body.role, body.unit, end_sessions=app.end_sessions)
        return json_response(roles_json(account_id, held))

    @router.post("/accounts/{account_id}/disable", response_model=AccountStatus,
                 summary="Disable a staff account (its sessions end everywhere)")
    async def disable(account_id: uuid.UUID, body: Disabling, user: CurrentUser):
        async with engine.begin() as db:
            return json_response(await accounts.disable_account(db, user, account_id, body.reason,
                                                                end_sessions=app.end_sessions))

    # --- the privacy notice and consents (issue 19): handlers/consents.py ------------------------

    @router.get("/privacy-notice", response_model=PrivacyNotice,
                summary="The privacy notice (the current version, or `version`): purposes and texts in vi and en")
    async def privacy_notice(version: int | None = Query(None, ge=1, le=1_000_000)):
        return json_response(consents.notice_json(version), headers={"Cache-Control": "max-age=300"})

    @router.get("/me/consents", response_model=OwnConsents, summary="The signed-in member's consents")
    async def own_consents(user: CurrentUser):
        async with engine.connect() as db:
            return json_response(await consents.own(db, user), headers={"Cache-Control": "no-store"})

    @router.post("/me/consents", response_model=OwnConsents,
                 summary="Agree to purposes of the current notice (an optional one again, or a new version)")
    async def give_consent(body: ConsentChange, request: Request, user: CurrentUser):
        async def work(db):
            return json_response(await consents.give(db, user, version=body.notice_version, purposes=body.purposes,
                                                     method=body.platform, client=consent_client(app, request)))
        return await ctx.idempotency.run(request, user.subject, work)

    @router.post("/me/consents/withdraw", response_model=OwnConsents,
                 summary="Withdraw purposes (withdrawing `account` asks for the account to be closed)")
    async def withdraw_consent(body: ConsentWithdrawal, request: Request, user: CurrentUser):
        async def work(db):
            return json_response(await consents.withdraw(db, user, purposes=body.purposes, method=body.platform,
                                                         client=consent_client(app, request)))
        return await ctx.idempotency.run(request, user.subject, work)

    @router.get("/consents", response_model=ConsentsByUnit,
                summary="Who in a unit of yours agreed to which version and optional purposes (audited)")
    async def consents_by_unit(user: CurrentUser, unit: str = Query(min_length=1, max_length=64),
                               cursor: str | None = Query(None, max_length=500),
                               limit: int = Query(200, ge=1, le=1000)):
        async with engine.begin() as db:
            return json_response(await consents.by_unit(db, user, unit, limit=limit, cursor=cursor),
                                 headers={"Cache-Control": "no-store"})

    # --- password resets (issue 18): handlers/resets.py ---------------------------------------

    @router.post("/password-resets/lookup", response_model=ResetAccount,
                 summary="A member's account by card number, to issue a reset code (audited)")
    async def reset_lookup(body: ResetLookup, user: CurrentUser):
        try:
            card = normalise_card_no(body.party_card_no)
        except ValueError as exc:
            raise invalid([("party_card_no", str(exc))]) from None
        async with engine.begin() as db:
            return json_response(await resets.look_up(db, user, card), headers={"Cache-Control": "no-store"})

    @router.post("/accounts/{account_id}/password-reset-codes", status_code=201, response_model=ResetCode,
                 summary="Issue a one-time reset code (it voids the one before; shown once)")
    async def issue_reset_code(account_id: uuid.UUID, user: CurrentUser):
        # No Idempotency-Key replay here: a replayed answer would have to keep the code.
        async with engine.begin() as db:
            issued = await resets.issue(db, user, account_id, keyed=app.keyed,
                                        ttl_s=ctx.settings.password_reset_code_ttl_s)
        return json_response(issued, 201, headers={"Cache-Control": "no-store"})

    @router.post("/password-resets", response_model=ResetDone,
                 summary="Set a new password with a reset code (every session of the account ends)")
    async def redeem_reset_code(body: ResetRedeem, request: Request):
        card, phone = login_names(body.username)
        code = resets.normalise_code(body.code)
        errors = [] if card or phone else [("username", "must be a party card number or a phone number")]
        if errors or code is None:
            raise invalid(errors + ([("code", resets.CODE_FORMAT)] if code is None else []))
        done = await resets.redeem(
            engine, app.throttles, app.passwords, keyed=app.keyed, card=card, phone=phone,
            name_key=app.keyed(card or phone), address_hash=app.address_hash(client_address(request)),
            code=code, new_password=body.new_password, attempts_allowed=ctx.settings.password_reset_code_attempts,
            end_sessions=app.end_sessions)
        return json_response(done, headers={"Cache-Control": "no-store"})

    return router
