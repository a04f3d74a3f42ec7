"""Use cases of identity: registration and matching, approval, sign-in and
tokens with their throttles, roles and staff accounts, and following the
registry (transfers, status changes)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity import domain
from services.identity.adapters import store
from services.identity.adapters.keys import SigningKey
from services.identity.adapters.passwords import PasswordPool
from sotay.contracts.identity import (
    AccountActivated,
    AccountApproved,
    AccountDisabled,
    AccountMoved,
    AccountRejected,
    RegistrationSubmitted,
)

from sotay.contracts.members import MemberRegistered, OrgUnitCreated
from sotay.kit.auth import Grant, Principal, mint_token
from sotay.kit.db import org_path
from sotay.kit.events import CITY, Event, make_message, uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import add_events
from sotay.kit.service import ServiceContext
from sotay.kit.text import fold

SCHEMA = "identity"
# Ends an account's sessions in every service (the revocation bucket).
EndSessions = Callable[[str], Awaitable[None]]
APPROVERS = ("cell_secretary", "unit_admin", "city_admin")
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


# --- throttles ---------------------------------------------------------------------------------

# An address an account signed in from within this many days still lets it in while its
# account is being guessed at from elsewhere.
KNOWN_ADDRESS_DAYS = 90


def too_many(wait: float) -> Problem:
    return Problem(429, "Too many attempts", f"Try again in {domain.ceil_seconds(wait)} seconds.",
                   retry_after=domain.ceil_seconds(wait))


@dataclass(frozen=True)
class Throttles:
    """The sliding windows identity keeps (deploy/README.md, "Security"): failed sign-ins (and
    registration-status checks) per account, per account at one address, and per address; and
    registrations per address. Keys never hold an address, only its keyed hash."""

    account: domain.SlidingWindow
    address: domain.SlidingWindow
    registrations: domain.SlidingWindow

    @classmethod
    def from_settings(cls, settings) -> Throttles:
        return cls(account=domain.SlidingWindow(settings.sign_in_failures_per_account, settings.sign_in_window_s),
                   address=domain.SlidingWindow(settings.sign_in_failures_per_address, settings.sign_in_window_s),
                   registrations=domain.SlidingWindow(settings.registrations_per_address_per_hour, 3600))

    @property
    def keep(self) -> int:
        return max(self.account.limit, self.address.limit, self.registrations.limit)

    @property
    def horizon_s(self) -> float:
        return max(self.account.seconds, self.address.seconds, self.registrations.seconds)

    async def record(self, db: AsyncConnection, keys: list[str]) -> None:
        await store.record_events(db, keys, keep=self.keep, horizon_s=self.horizon_s)


@dataclass(frozen=True)
class Attempt:
    """The throttle keys of one sign-in (or status check): its account — the account's id when
    there is one, else the name as normalised, so spaces and dots make no new key — the
    account at this address, and the address."""

    account: str
    pair: str
    address: str
    known_address: bool = False  # the account signed in from this address before

    @property
    def failure_keys(self) -> list[str]:
        return [self.account, self.pair, self.address]


def attempt(account_key: str, address_hash: str, *, known: bool = False) -> Attempt:
    return Attempt(account_key, f"pair:{account_key}:{address_hash}", f"ip:{address_hash}", known)


async def refuse_if_throttled(db: AsyncConnection, throttles: Throttles, at: Attempt) -> bool:
    """Raise 429 while the attempt must wait; else say whether it has failures of its own at
    this address (which its success then clears).

    The address's window and the account-at-this-address window always count. The account's
    own window counts unless the account signed in from this address before: someone guessing
    at a known card from elsewhere cannot keep its member out of their usual device or network.
    A success clears only the account-at-this-address window: the account's own keeps sliding,
    so a member's sign-in does not hand the one guessing a fresh set of tries."""
    ages = await store.window_ages(db, at.failure_keys)
    waits = [throttles.address.wait(ages.get(at.address, [])), throttles.account.wait(ages.get(at.pair, []))]
    if not at.known_address:
        waits.append(throttles.account.wait(ages.get(at.account, [])))
    if max(waits) > 0:
        raise too_many(max(waits))
    return at.pair in ages


async def registration_budget(db: AsyncConnection, throttles: Throttles, address_hash: str) -> None:
    """Count a registration against its address's hourly budget, or refuse it (429): one
    address can fill neither the password pool nor the approval queue."""
    key = f"register:{address_hash}"
    wait = throttles.registrations.wait((await store.window_ages(db, [key])).get(key, []))
    if wait > 0:
        raise too_many(wait)
    await throttles.record(db, [key])


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
    keys: list[SigningKey]  # newest first: it signs
    access_ttl_s: int
    refresh_ttl: timedelta

    async def issue(self, db: AsyncConnection, account: dict[str, Any], family_id: Any | None = None) -> dict:
        grants = [Grant(role, unit) for role, unit in await store.grants_of(db, account["id"])]
        access = mint_token(self.keys[0].private, str(account["id"]), grants, ttl_s=self.access_ttl_s,
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


async def sign_in(db: AsyncConnection, issuer: TokenIssuer, passwords: PasswordPool, account: dict[str, Any] | None,
                  password: str) -> dict:
    """Tokens for the account if the password is its own (a missing account costs the same)."""
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


async def end_sign_in(db: AsyncConnection, refresh_token: str) -> None:
    """Sign out: every refresh token of the sign-in (its family) stops working."""
    await db.execute(text(
        "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = "
        "(SELECT family_id FROM refresh_tokens WHERE token_hash = :h)"), {"h": _digest(refresh_token)})


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


def _refused(detail: str) -> Problem:
    return Problem(403, "Forbidden", detail)


async def _account_to_grant(db: AsyncConnection, actor: Principal, account_id: Any, role: str,
                            unit: str) -> dict[str, Any]:
    """The account whose `role` over `unit` the actor grants or revokes, if the actor may:
    not their own account; an account whose member (or staff home unit) sits in a subtree the
    actor administers; and a role the actor holds, or outranks, over that unit."""
    if str(account_id) == actor.subject:
        raise _refused("Nobody changes their own roles or account.")
    if role == "city_admin" and unit != CITY:
        raise invalid([("unit", "the city admin role covers the city only")])
    path = await store.unit_path(db, unit)
    if path is None:
        raise invalid([("unit", "is not a unit of the registry")])
    account = await store.account(db, account_id, lock=True)
    if account is None or not covers(await scopes(db, actor, domain.GRANTORS), account["unit_path"]):
        raise Problem(404, "Not found", "No such account in the units you administer.")
    if not covers(await scopes(db, actor, domain.roles_covering(role)), path):
        raise _refused("You may grant only roles you hold yourself over that unit, or lower ones.")
    return account


async def grant_role(db: AsyncConnection, actor: Principal, account_id: Any, role: str, unit: str) -> None:
    await _account_to_grant(db, actor, account_id, role, unit)
    await store.grant(db, account_id, role, unit, actor.subject)
    await store.audit(db, actor.subject, "grant_role", str(account_id), details={"role": role, "unit": unit})


async def revoke_role(db: AsyncConnection, actor: Principal, account_id: Any, role: str, unit: str,
                      *, end_sessions: EndSessions) -> None:
    """Take a staff role away; the account's tokens issued before end everywhere within
    seconds (the revocation bucket), and its next token no longer carries the role."""
    if role == "member":
        raise invalid([("role", "a member's own role follows the registry (transfers, standing)")])
    await _account_to_grant(db, actor, account_id, role, unit)
    if not await store.revoke(db, account_id, role, unit):
        raise Problem(404, "Not found", "The account does not hold this role over this unit.")
    await store.audit(db, actor.subject, "revoke_role", str(account_id), details={"role": role, "unit": unit})
    await end_sessions(str(account_id))


async def disable_account(db: AsyncConnection, actor: Principal, account_id: Any, reason: str | None,
                          *, end_sessions: EndSessions) -> dict:
    """A staff account can no longer sign in, and its sessions end everywhere within seconds.
    The actor must be able to take away every role the account holds."""
    if not reason or not reason.strip():
        raise invalid([("reason", "is required: it is kept in the audit log")])
    grants = await store.grants_of(db, account_id)
    for role, unit in grants or [("member", CITY)]:
        await _account_to_grant(db, actor, account_id, role, unit)
    account = await store.account(db, account_id)
    if account["status"] != "active":
        raise Problem(409, "Already disabled", "This account is already disabled.")
    await store.disable_account(db, account_id, reason.strip())
    await end_sessions(str(account_id))
    await store.audit(db, actor.subject, "disable_account", str(account_id), reason.strip())
    if account["member_id"] is not None:  # a member's installation stops counting
        await emit(db, AccountDisabled(account_id=str(account_id), member_id=str(account["member_id"]),
                                       unit=account["unit"], platform=account["platform"], reason=reason.strip()),
                   aggregate_id=account_id, committee=account["committee"], unit=account["unit"])
    return {"account_id": str(account_id), "status": "disabled"}


# --- following the registry -------------------------------------------------------------------


_UPSERT_MEMBER = text(
    "INSERT INTO registry_members (member_id, party_card_no, name_folded, full_name, date_of_birth, unit, unit_path, "
    "committee, status, eligible, phone_hash, phone_tail, version) VALUES (:member_id, :card, :name, :full_name, "
    ":dob, :unit, :path, :committee, :status, :eligible, :phone_hash, :phone_tail, :version) "
    "ON CONFLICT (member_id) DO UPDATE SET party_card_no = EXCLUDED.party_card_no, "
    "name_folded = EXCLUDED.name_folded, full_name = EXCLUDED.full_name, phone_tail = EXCLUDED.phone_tail, "
    "date_of_birth = EXCLUDED.date_of_birth, unit = EXCLUDED.unit, "
    "unit_path = EXCLUDED.unit_path, committee = EXCLUDED.committee, status = EXCLUDED.status, "
    "eligible = EXCLUDED.eligible, phone_hash = EXCLUDED.phone_hash, version = EXCLUDED.version "
    "WHERE registry_members.version < EXCLUDED.version RETURNING 1")
_INSERT_UNIT = text(
    "INSERT INTO registry_units (code, kind, path, committee, version) VALUES (:c, :k, :p, :m, :v) "
    "ON CONFLICT (code) DO NOTHING")
MEMBER_REGISTERED = MemberRegistered.event_type()
UNIT_CREATED = OrgUnitCreated.event_type()


def _member_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {"member_id": data["member_id"], "card": data["party_card_no"], "name": fold(data["full_name"]),
            "full_name": data["full_name"], "phone_tail": data.get("phone_tail"),
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
    if data["status"] not in domain.ACTIVE_STANDING and account["status"] == "active":
        reason = f"member is {data['status'].replace('_', ' ')}"
        await store.disable_account(db, account["id"], reason)
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

