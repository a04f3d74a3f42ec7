"""Use cases of identity: registration and matching, approval, sign-in and
tokens, and following the registry (transfers, status changes)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity import domain
from services.identity.adapters import store
from services.identity.adapters.passwords import PasswordPool
from services.identity.events import (
    AccountActivated,
    AccountApproved,
    AccountDisabled,
    AccountMoved,
    AccountRejected,
    RegistrationSubmitted,
)

# The registry's own rule for standing, so matching agrees with it.
from services.members.domain import ACTIVE_STANDING
from sotay.auth import Grant, Principal, mint_token
from sotay.db import org_path
from sotay.events import CITY, Event, make_message, uuid7
from sotay.http import Problem, invalid
from sotay.outbox import add_events
from sotay.service import ServiceContext
from sotay.text import fold

SCHEMA = "identity"
APPROVERS = ("cell_secretary", "unit_admin", "city_admin")
GRANTORS = ("unit_admin", "city_admin")
APPROVABLE = ("matched", "details_differ")


async def emit(db: AsyncConnection, event: Event, *, aggregate_id: Any, committee: str | None,
               unit: str | None) -> None:
    await add_events(db, SCHEMA, [make_message(event, aggregate_id=str(aggregate_id), committee=committee or CITY,
                                               orgunit=unit)])


def forbidden() -> Problem:
    return Problem(403, "Forbidden", "This is outside the units your roles cover.")


async def scopes(db: AsyncConnection, principal: Principal, roles: tuple[str, ...] = APPROVERS) -> list[str]:
    return await store.unit_paths(db, principal.units_for(*roles))


def covers(paths: list[str], unit_path: str) -> bool:
    return any(unit_path.startswith(p) for p in paths)


# --- registration ---------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationInput:
    party_card_no: str
    full_name: str
    date_of_birth: date
    phone: str
    password: str
    platform: str


async def register(db: AsyncConnection, ctx: ServiceContext, data: RegistrationInput, password_hash: str) -> dict:
    """Store the registration with its match result. The caller hashed the
    password first, whatever the match, so every outcome costs the same."""
    entry, has_account, has_pending = await store.registration_context(db, data.party_card_no)
    match = domain.match_registration(
        full_name=data.full_name, date_of_birth=data.date_of_birth, phone_hash=ctx.pii_hash(data.phone),
        entry=entry, has_account=has_account, has_pending=has_pending)
    reg = {"id": uuid7(), "party_card_no": data.party_card_no, "full_name": data.full_name,
           "date_of_birth": data.date_of_birth, "phone": data.phone, "password_hash": password_hash,
           "platform": data.platform, "match_result": match.result, "match_reasons": list(match.reasons),
           "member_id": entry.member_id if entry else None, "unit": entry.unit if entry else None,
           "unit_path": entry.unit_path if entry else f"/{CITY}/",
           "committee": entry.committee if entry else CITY}
    await store.insert_registration(db, reg)
    await emit(db, RegistrationSubmitted(
        registration_id=str(reg["id"]), platform=data.platform, match_result=match.result,
        match_reasons=list(match.reasons), member_id=reg["member_id"], unit=reg["unit"]),
        aggregate_id=reg["id"], committee=reg["committee"], unit=reg["unit"])
    return reg


# --- approval --------------------------------------------------------------------------


async def _pending_in_scope(db: AsyncConnection, actor: Principal, reg_id: Any) -> dict[str, Any]:
    reg = await store.registration(db, reg_id, lock=True)
    # Outside the caller's units, an existing registration and a missing one look alike.
    if reg is None or not covers(await scopes(db, actor), reg["unit_path"]):
        raise forbidden()
    if reg["status"] != "pending":
        raise Problem(409, "Already decided", f"This registration was {reg['status']}.")
    return reg


async def approve(db: AsyncConnection, ctx: ServiceContext, actor: Principal, reg_id: Any,
                  *, bulk: bool = False) -> dict:
    reg = await _pending_in_scope(db, actor, reg_id)
    if bulk and reg["match_result"] != "matched":
        raise invalid([("match_result", "bulk approval takes matched registrations only")])
    if reg["match_result"] not in APPROVABLE:
        raise invalid([("match_result", f"a registration that is {reg['match_result'].replace('_', ' ')} "
                                        "cannot be approved; reject it with a reason")])
    if await store.card_has_account(db, reg["party_card_no"]):
        raise Problem(409, "Already has an account", "This member already has an account.")
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
    await emit(db, AccountApproved(account_id=str(account_id), registration_id=str(reg["id"]),
                                   member_id=str(reg["member_id"]), unit=reg["unit"], platform=reg["platform"]),
               aggregate_id=account_id, committee=reg["committee"], unit=reg["unit"])
    return {"registration_id": str(reg["id"]), "status": "approved", "account_id": str(account_id)}


async def reject(db: AsyncConnection, ctx: ServiceContext, actor: Principal, reg_id: Any, reason: str | None) -> dict:
    if not reason or not reason.strip():
        raise invalid([("reason", "is required: the registrant sees it")])
    reg = await _pending_in_scope(db, actor, reg_id)
    await store.decide(db, reg["id"], status="rejected", actor=actor.subject, reason=reason.strip())
    await store.audit(db, actor.subject, "reject_registration", str(reg["id"]), reason.strip())
    await emit(db, AccountRejected(registration_id=str(reg["id"]),
                                   member_id=str(reg["member_id"]) if reg["member_id"] else None,
                                   unit=reg["unit"], platform=reg["platform"], reason=reason.strip()),
               aggregate_id=reg["id"], committee=reg["committee"], unit=reg["unit"])
    return {"registration_id": str(reg["id"]), "status": "rejected"}


async def approve_many(db: AsyncConnection, ctx: ServiceContext, actor: Principal, reg_ids: list[Any]) -> list[dict]:
    """Bulk approval of matched registrations; each succeeds or fails on its own."""
    results = []
    for reg_id in reg_ids:
        try:
            async with db.begin_nested():
                results.append(await approve(db, ctx, actor, reg_id, bulk=True))
        except Problem as problem:
            results.append({"registration_id": str(reg_id), "status": "refused", "reason": problem.detail,
                            "errors": problem.errors})
    return results


# --- sign-in and tokens ---------------------------------------------------------------------


@dataclass
class TokenIssuer:
    keys: list[Ed25519PrivateKey]  # newest first: it signs
    access_ttl_s: int
    refresh_ttl: timedelta

    async def issue(self, db: AsyncConnection, account: dict[str, Any], family_id: Any | None = None) -> dict:
        grants = [Grant(role, unit) for role, unit in await store.grants_of(db, account["id"])]
        access = mint_token(self.keys[0], str(account["id"]), grants, ttl_s=self.access_ttl_s,
                            member_card_no=account["party_card_no"], unit=account["unit"])
        refresh = secrets.token_urlsafe(32)
        await db.execute(text(
            "INSERT INTO refresh_tokens (token_hash, family_id, account_id, expires_at) VALUES (:h, :f, :a, :e)"),
            {"h": _digest(refresh), "f": family_id or uuid7(), "a": account["id"],
             "e": datetime.now(UTC) + self.refresh_ttl})
        return {"access_token": access, "token_type": "Bearer", "expires_in": self.access_ttl_s,
                "refresh_token": refresh}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invalid_grant(detail: str = "The card number, phone or password is not right.") -> Problem:
    return Problem(400, "Sign-in refused", detail, error="invalid_grant")


async def sign_in(db: AsyncConnection, issuer: TokenIssuer, passwords: PasswordPool, card_no: str | None,
                  phone: str | None, password: str) -> dict:
    account = await store.account_for_login(db, card_no, phone)
    ok = await passwords.verify(account["password_hash"] if account else None, password)
    if not ok or account["status"] != "active":
        raise invalid_grant()
    if account["activated_at"] is None:
        await db.execute(text("UPDATE accounts SET activated_at = now() WHERE id = :id"), {"id": account["id"]})
        if account["member_id"] is not None:  # staff accounts are no member's installation
            await emit(db, AccountActivated(account_id=str(account["id"]), member_id=str(account["member_id"]),
                                            unit=account["unit"], platform=account["platform"]),
                       aggregate_id=account["id"], committee=account["committee"], unit=account["unit"])
    return await issuer.issue(db, account)


async def refresh(db: AsyncConnection, issuer: TokenIssuer, refresh_token: str) -> dict | Problem:
    """New tokens for a refresh token, or the refusal. A refusal is returned,
    not raised: revoking a reused token's family must commit."""
    row = (await db.execute(text(
        "SELECT * FROM refresh_tokens WHERE token_hash = :h FOR UPDATE"), {"h": _digest(refresh_token)})).mappings().first()
    if row is None:
        return invalid_grant("The refresh token is not valid.")
    if row["used_at"] is not None or row["revoked_at"] is not None:
        # A used token presented again: someone holds a copy. End the whole sign-in.
        await db.execute(text("UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) "
                              "WHERE family_id = :f"), {"f": row["family_id"]})
        await store.audit(db, str(row["account_id"]), "refresh_token_reuse", str(row["family_id"]))
        return invalid_grant("The refresh token was already used; sign in again.")
    if row["expires_at"] < datetime.now(UTC):
        return invalid_grant("The refresh token has expired; sign in again.")
    account = await store.account(db, row["account_id"])
    if account is None or account["status"] != "active":
        return invalid_grant("The account is disabled.")
    await db.execute(text("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = :h"),
                     {"h": row["token_hash"]})
    return await issuer.issue(db, account, row["family_id"])


async def create_user(db: AsyncConnection, *, card_no: str, phone: str, password_hash: str, role: str,
                      unit: str, by: str) -> dict:
    """An account made from the command line (bootstrapping the first city admin).
    It is linked to the registry when the card is there, and is active at once."""
    path = await store.unit_path(db, unit) if unit != CITY else f"/{CITY}/"
    if path is None:
        raise invalid([("unit", "is not a unit of the registry (is the registry loaded?)")])
    if await store.card_has_account(db, card_no):
        raise Problem(409, "Already has an account", "This card number already has an account.")
    entry = await store.registry_entry(db, card_no)
    account_id = uuid7()
    home = entry.unit if entry else unit
    await store.insert_account(db, {
        "id": account_id, "member_id": entry.member_id if entry else None, "party_card_no": card_no,
        "phone": phone, "password_hash": password_hash, "platform": "web", "unit": home,
        "unit_path": entry.unit_path if entry else path, "committee": entry.committee if entry else CITY,
        "registration_id": None})
    if entry:
        await store.grant(db, account_id, "member", entry.unit, by)
    await store.grant(db, account_id, role, unit, by)
    await store.audit(db, by, "create_user", str(account_id), details={"role": role, "unit": unit})
    return {"account_id": str(account_id), "card": card_no, "roles": await store.grants_of(db, account_id)}


async def grant_role(db: AsyncConnection, actor: Principal, account_id: Any, role: str, unit: str) -> None:
    """Admins grant roles within their own subtree only."""
    path = await store.unit_path(db, unit)
    if path is None:
        raise invalid([("unit", "is not a unit of the registry")])
    if not covers(await scopes(db, actor, GRANTORS), path):
        raise forbidden()
    if role == "city_admin" and "city" not in actor.units_for("city_admin"):
        raise forbidden()
    if await store.account(db, account_id) is None:
        raise Problem(404, "Not found", "No such account.")
    await store.grant(db, account_id, role, unit, actor.subject)
    await store.audit(db, actor.subject, "grant_role", str(account_id), details={"role": role, "unit": unit})


# --- following the registry -------------------------------------------------------------------


EndSessions = Callable[[str], Awaitable[None]]


_UPSERT_MEMBER = text(
    "INSERT INTO registry_members (member_id, party_card_no, name_folded, date_of_birth, unit, unit_path, "
    "committee, status, eligible, phone_hash, version) VALUES (:member_id, :card, :name, :dob, :unit, :path, "
    ":committee, :status, :eligible, :phone_hash, :version) "
    "ON CONFLICT (member_id) DO UPDATE SET party_card_no = EXCLUDED.party_card_no, "
    "name_folded = EXCLUDED.name_folded, date_of_birth = EXCLUDED.date_of_birth, unit = EXCLUDED.unit, "
    "unit_path = EXCLUDED.unit_path, committee = EXCLUDED.committee, status = EXCLUDED.status, "
    "eligible = EXCLUDED.eligible, phone_hash = EXCLUDED.phone_hash, version = EXCLUDED.version "
    "WHERE registry_members.version < EXCLUDED.version RETURNING 1")
_INSERT_UNIT = text(
    "INSERT INTO registry_units (code, kind, path, committee, version) VALUES (:c, :k, :p, :m, :v) "
    "ON CONFLICT (code) DO NOTHING")
MEMBER_REGISTERED = "sotay.members.MemberRegistered.v1"
UNIT_CREATED = "sotay.members.OrgUnitCreated.v1"


def _member_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {"member_id": data["member_id"], "card": data["party_card_no"], "name": fold(data["full_name"]),
            "dob": date.fromisoformat(data["date_of_birth"]), "unit": data["unit"],
            "path": org_path(data["unit_path"]), "committee": _committee(data["unit_path"]),
            "status": data["status"], "eligible": data["eligible"], "phone_hash": data.get("phone_hash"),
            "version": envelope.get("sequence") or 0}


def _unit_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {"c": data["code"], "k": data["kind"], "p": org_path(data["path"]), "m": data["committee"],
            "v": envelope.get("sequence") or 1}


async def apply_registry_batch(db: AsyncConnection, envelopes: list[dict[str, Any]], *,
                               end_sessions: EndSessions) -> None:
    """A fetched batch of registry events, in stream order. A run of new units or
    of newly registered members (an import is hundreds of them) is written with
    one executemany, the rows pipelined in one round trip; a member registered
    has no account to follow yet. Any other member event is applied on its own,
    as it may disable or move an account."""
    for event_type, run in groupby(envelopes, key=lambda e: e["type"]):
        if event_type == UNIT_CREATED:
            await db.execute(_INSERT_UNIT, [_unit_row(e) for e in run])
        elif event_type == MEMBER_REGISTERED:
            await db.execute(_UPSERT_MEMBER, [_member_row(e) for e in run])
        else:
            for envelope in run:
                await apply_member_event(db, envelope, end_sessions=end_sessions)


async def apply_member_event(db: AsyncConnection, envelope: dict[str, Any], *, end_sessions: EndSessions) -> None:
    updated = (await db.execute(_UPSERT_MEMBER, _member_row(envelope))).first()
    # A member just entered into the registry has no account yet: nothing to follow.
    if updated is not None and envelope["type"] != MEMBER_REGISTERED:
        await _follow_member(db, envelope["data"], end_sessions)


async def _follow_member(db: AsyncConnection, data: dict[str, Any], end_sessions: EndSessions) -> None:
    account = await store.account_of_member(db, data["member_id"])
    if account is None:
        return
    if data["status"] not in ACTIVE_STANDING and account["status"] == "active":
        reason = f"member is {data['status'].replace('_', ' ')}"
        await db.execute(text("UPDATE accounts SET status = 'disabled', disabled_reason = :r WHERE id = :id"),
                         {"r": reason, "id": account["id"]})
        await db.execute(text("UPDATE refresh_tokens SET revoked_at = now() WHERE account_id = :a "
                              "AND revoked_at IS NULL"), {"a": account["id"]})
        await end_sessions(str(account["id"]))  # its access tokens too, in every service
        await store.audit(db, "registry", "disable_account", str(account["id"]), reason)
        await emit(db, AccountDisabled(account_id=str(account["id"]), member_id=data["member_id"], unit=data["unit"],
                                       platform=account["platform"], reason=reason),
                   aggregate_id=account["id"], committee=_committee(data["unit_path"]), unit=data["unit"])
    elif data["unit"] != account["unit"]:
        path = org_path(data["unit_path"])
        await db.execute(text("UPDATE accounts SET unit = :u, unit_path = :p, committee = :c WHERE id = :id"),
                         {"u": data["unit"], "p": path, "c": _committee(data["unit_path"]), "id": account["id"]})
        await db.execute(text("UPDATE grants SET unit = :u WHERE account_id = :a AND role = 'member'"),
                         {"u": data["unit"], "a": account["id"]})
        await emit(db, AccountMoved(account_id=str(account["id"]), member_id=data["member_id"],
                                    from_unit=account["unit"], unit=data["unit"], platform=account["platform"]),
                   aggregate_id=account["id"], committee=_committee(data["unit_path"]), unit=data["unit"])


async def apply_unit_event(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    await db.execute(_INSERT_UNIT, _unit_row(envelope))


def _committee(unit_path: list[str]) -> str:
    return unit_path[1] if len(unit_path) > 1 else CITY

