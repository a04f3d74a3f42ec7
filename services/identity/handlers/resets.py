"""Password resets for members without e-mail (issue 18): a cell secretary or unit admin
looks the member up and issues a one-time code, handed over in person or by phone; the
member sets a new password with it.

A code is 8 random digits (easy to read out over the phone), valid for a short time
(settings.password_reset_code_ttl_s), kept only as a keyed hash bound to its account; issuing
another voids it, and so do a few wrong tries at it. Redeeming sits behind throttles of its
own (per account, per account at an address, per address: a member who failed to sign in
ten times can still reset), and every refusal is the same one, whatever was wrong. A reset
ends every session of the account. Issuing, looking up and using are audited; the code
never reaches a log, an event or the audit log."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.identity import domain
from services.identity.adapters import resets, store
from services.identity.adapters.passwords import PasswordPool
from services.identity.adapters.store import ORG
from services.identity.handlers import EndSessions
from services.identity.handlers.throttles import (
    clear_failures,
    hash_password,
    record_failures,
    refuse_if_throttled,
)
from sotay.kit.auth import Principal
from sotay.kit.events import CITY, uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.scope import forbidden

CODE_DIGITS = 8
Keyed = Callable[[str], str]  # the keyed hash identity keeps of a value (IdentityApp.keyed)


def new_code() -> str:
    """A fresh code: 8 random digits."""
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(keyed: Keyed, account_id: Any, code: str) -> str:
    """What is kept of a code: its keyed hash, bound to the account it was issued for."""
    return keyed(f"password-reset:{account_id}:{code}")


CODE_FORMAT = f"must be {CODE_DIGITS} digits"


def normalise_code(value: str) -> str | None:
    """The code as typed, spaces, dots and dashes left out ("1234 5678", "1234-5678"); None unless 8 digits."""
    code = re.sub(r"[\s.\-]", "", value or "")
    return code if re.fullmatch(rf"\d{{{CODE_DIGITS}}}", code) else None


def refused() -> Problem:
    """The one answer to a code that is wrong, expired, used or voided, or an unknown card: nothing says which."""
    return Problem(400, "Reset refused", "The card number or the code is not right, or the code has expired or was "
                   "already used. Ask your cell secretary for a new code.", error="invalid_code",
                   errors=[{"field": "code", "reason": "is not right, has expired or was used"}])


def not_found() -> Problem:
    return Problem(404, "Not found", "No member account has this card number.")


# --- issuing (staff) ---------------------------------------------------------------------------


async def _in_reach(db: AsyncConnection, actor: Principal, account: dict[str, Any] | None) -> dict[str, Any]:
    """The account whose password the actor may reset: a member's account, active, in a unit
    where the actor is cell secretary, unit admin or city admin (403 outside, 404 unknown), not
    the actor's own; an account holding staff roles only by someone above each of them."""
    if account is None:
        raise not_found()
    if str(account["id"]) == actor.subject:
        raise forbidden("Nobody resets their own password here.")
    await ORG.require(db, actor, account["unit_path"], domain.APPROVERS)
    if account["member_id"] is None:
        raise Problem(409, "Not a member's account", "Staff accounts are not reset with a code.",
                      errors=[{"field": "party_card_no", "reason": "is a staff account"}])
    if account["status"] != "active":
        raise Problem(409, "Account disabled", "This account is disabled.",
                      errors=[{"field": "party_card_no", "reason": "the account is disabled"}])
    for role, unit in await store.grants_of(db, account["id"]):
        if role == "member":
            continue
        path = f"/{CITY}/" if unit == CITY else await store.unit_path(db, unit)
        await ORG.require(db, actor, path or f"/{CITY}/", domain.roles_covering(role)[1:],
                          "Only someone above them may reset the password of an account with staff roles.")
    return account


def account_json(account: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    return {"account_id": str(account["id"]), "party_card_no": account["party_card_no"],
            "full_name": account.get("full_name"), "unit": account["unit"], "status": account["status"],
            "live_code_expires_at": live["expires_at"].isoformat() if live and not live["expired"] else None}


async def look_up(db: AsyncConnection, actor: Principal, card_no: str) -> dict[str, Any]:
    """The member's account by card number, within the actor's units (audited: it shows a name)."""
    account = await _in_reach(db, actor, await resets.account_by_card(db, card_no))
    live = await resets.live_code(db, account["id"])
    await store.audit(db, actor.subject, "look_up_account_for_reset", str(account["id"]))
    return account_json(account, live)


async def issue(db: AsyncConnection, actor: Principal, account_id: Any, *, keyed: Keyed, ttl_s: int) -> dict[str, Any]:
    """A new code for the account (the live one before it is voided); the only time the code is shown."""
    account = await _in_reach(db, actor, await store.account(db, account_id, lock=True))
    code, code_id = new_code(), uuid7()
    expires_at = datetime.now(UTC) + timedelta(seconds=ttl_s)
    voided = await resets.issue(db, code_id=code_id, account_id=account["id"],
                                code_hash=code_hash(keyed, account["id"], code), issued_by=actor.subject,
                                expires_at=expires_at)
    await store.audit(db, actor.subject, "issue_password_reset", str(account["id"]),
                      details={"code_id": str(code_id), "expires_at": expires_at.isoformat(), "voided": voided})
    return {"account_id": str(account["id"]), "code": code, "expires_at": expires_at.isoformat(),
            "valid_for_s": ttl_s}


# --- redeeming (the member) --------------------------------------------------------------------


def reset_attempt(account_key: str, address_hash: str) -> domain.Attempt:
    """The throttle keys of a reset: the sign-in's, under a prefix of their own (a member who
    failed to sign in is not kept from resetting, nor the other way round)."""
    return domain.Attempt(f"reset:{account_key}", f"reset:pair:{account_key}:{address_hash}",
                          f"reset:ip:{address_hash}")


async def redeem(engine: AsyncEngine, throttles: domain.Throttles, passwords: PasswordPool, *, keyed: Keyed,
                 card: str | None, phone: str | None, name_key: str, address_hash: str, code: str,
                 new_password: str, attempts_allowed: int, end_sessions: EndSessions) -> dict[str, Any]:
    """Set the account's new password with its code; end every session of the account."""
    if problems := domain.password_problems(new_password, card_no=card or "", phone=phone or ""):
        raise invalid([("new_password", p) for p in problems])
    async with engine.connect() as db:
        account = await store.account_for_login(db, card, phone) if card or phone else None
        at = reset_attempt(f"account:{account['id']}" if account else f"name:{name_key}", address_hash)
        await refuse_if_throttled(db, throttles, at)
    if account is None:
        async with engine.begin() as db:
            await record_failures(db, throttles, at.failure_keys)
        raise refused()
    async with engine.begin() as db:
        live = await resets.live_code(db, account["id"])
        right = live is not None and secrets.compare_digest(live["code_hash"], code_hash(keyed, account["id"], code))
        if not right or live["expired"] or account["status"] != "active":
            await record_failures(db, throttles, at.failure_keys)
            if live is not None:
                voided = await resets.wrong_attempt(db, live["id"], void_at=attempts_allowed) if not right else False
                await store.audit(db, "anonymous", "password_reset_refused", str(account["id"]),
                                  details={"code_id": str(live["id"]), "expired": bool(live["expired"]),
                                           "voided": voided})
    if not right or live["expired"] or account["status"] != "active":
        raise refused()
    # The code is right: now the password may be checked against the account's own card and phone.
    if problems := domain.password_problems(new_password, card_no=account["party_card_no"], phone=account["phone"]):
        raise invalid([("new_password", p) for p in problems])
    password_hash = await hash_password(passwords, new_password)
    async with engine.begin() as db:
        live = await resets.live_code(db, account["id"])
        if live is None or live["expired"] or not secrets.compare_digest(
                live["code_hash"], code_hash(keyed, account["id"], code)):
            raise refused()  # used or voided meanwhile (the same code sent twice at once)
        await resets.use(db, live["id"])
        await resets.set_password(db, account["id"], password_hash)
        await store.audit(db, str(account["id"]), "password_reset", str(account["id"]),
                          details={"code_id": str(live["id"]), "issued_by": live["issued_by"]})
        # A new password: the guesses before it are moot, and the member signs in at once.
        await clear_failures(db, at)
        await store.clear_windows(db, [f"account:{account['id']}", f"pair:account:{account['id']}:{address_hash}"])
    await end_sessions(str(account["id"]))
    return {"reset": True}
