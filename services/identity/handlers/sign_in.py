"""Sign-in and tokens: a password sign-in behind its throttles, the refresh-token exchange
(a reused token ends its whole sign-in), signing out, and the public keys."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.identity import domain
from services.identity.adapters import keys, store
from services.identity.adapters.keys import SigningKey
from services.identity.adapters.passwords import PasswordPool, PoolBusy
from services.identity.adapters.store import Db
from services.identity.handlers import SCHEMA
from services.identity.handlers.throttles import (
    busy,
    clear_failures,
    record_failures,
    refuse_if_throttled,
)
from sotay.contracts.identity import AccountActivated
from sotay.kit.auth import Grant, mint_token
from sotay.kit.db import driver_connection, driver_transaction
from sotay.kit.events import uuid7
from sotay.kit.http import Problem
from sotay.kit.outbox import emit


@dataclass
class TokenIssuer:
    keys: list[SigningKey]  # newest first: it signs
    access_ttl_s: int
    refresh_ttl: timedelta

    async def issue(self, db: Db, account: dict[str, Any], family_id: Any | None = None) -> dict:
        grants = [Grant(role, unit) for role, unit in await store.grants_of(db, account["id"])]
        access = mint_token(self.keys[0].private, str(account["id"]), grants, ttl_s=self.access_ttl_s,
                            member_card_no=account["party_card_no"], unit=account["unit"])
        refresh = secrets.token_urlsafe(32)
        await store.insert_refresh_token(db, digest=domain.token_digest(refresh), family_id=family_id or uuid7(),
                                         account_id=account["id"], expires_at=datetime.now(UTC) + self.refresh_ttl)
        return {"access_token": access, "token_type": "Bearer", "expires_in": self.access_ttl_s,
                "refresh_token": refresh}


def published_keys(issuer: TokenIssuer) -> dict:
    """The JWKS of the keys tokens are signed with."""
    return keys.jwks(issuer.keys)


def invalid_grant(detail: str = "The card number, phone or password is not right.",
                  code: str = "bad_credentials") -> Problem:
    return Problem(400, "Sign-in refused", detail, error="invalid_grant", code=code)


async def password_sign_in(reader: AsyncEngine, issuer: TokenIssuer, passwords: PasswordPool,
                           throttles: domain.Throttles, *, card: str | None, phone: str | None, name_key: str,
                           password: str, address_hash: str) -> dict:
    """A password sign-in behind its throttles (throttles.refuse_if_throttled). `card` and
    `phone` are what the username may be; `name_key` keys its throttle when no account has it.
    Its statements run on asyncpg's own connection (`reader`: the pool in autocommit, kit/db.py
    driver_transaction): members sign in every day. The reads before the password is checked
    need no one snapshot, and a failure's record is one statement: no transaction around them."""
    async with driver_connection(reader) as db:
        account = await store.account_for_login(db, card, phone)
        known = account is not None and await store.known_address(
            db, account["id"], address_hash, domain.KNOWN_ADDRESS_DAYS) is not None
        name = f"account:{account['id']}" if account else f"name:{name_key}"
        at = domain.attempt(name, address_hash, known=known)
        had_failures = await refuse_if_throttled(db, throttles, at)
    try:
        async with driver_transaction(reader) as db:
            issued = await sign_in(db, issuer, passwords, account, password)
            if not known:
                await store.remember_address(db, account["id"], address_hash)
            if had_failures:  # most sign-ins follow none: no write for them
                await clear_failures(db, at)
    except PoolBusy as exc:
        raise busy(exc) from None
    except Problem:
        async with driver_connection(reader) as db:
            await record_failures(db, throttles, at.failure_keys)
        raise
    return issued


async def sign_in(db: Db, issuer: TokenIssuer, passwords: PasswordPool, account: dict[str, Any] | None,
                  password: str) -> dict:
    """Tokens for the account if the password is its own (a missing account costs the same)."""
    ok = await passwords.verify(account["password_hash"] if account else None, password)
    if not ok or account["status"] != "active":
        raise invalid_grant()
    if account["activated_at"] is None:
        await store.activate(db, account["id"])
        if account["member_id"] is not None:  # staff accounts are no member's installation
            await emit(db, SCHEMA, AccountActivated(account_id=str(account["id"]), member_id=str(account["member_id"]),
                                                    unit=account["unit"], platform=account["platform"]),
                       aggregate_id=account["id"], committee=account["committee"], unit=account["unit"])
    return await issuer.issue(db, account)


async def refresh(db: AsyncConnection, issuer: TokenIssuer, refresh_token: str) -> dict | Problem:
    """New tokens for a refresh token, or the refusal. A refusal is returned,
    not raised: revoking a reused token's family must commit."""
    row = await store.refresh_token(db, domain.token_digest(refresh_token))
    if row is None:
        return invalid_grant("The refresh token is not valid.", "session_ended")
    if row["used_at"] is not None or row["revoked_at"] is not None:
        # A used token presented again: someone holds a copy. End the whole sign-in.
        await store.revoke_family(db, row["family_id"])
        await store.audit(db, str(row["account_id"]), "refresh_token_reuse", str(row["family_id"]))
        return invalid_grant("The refresh token was already used; sign in again.", "session_ended")
    if row["expires_at"] < datetime.now(UTC):
        return invalid_grant("The refresh token has expired; sign in again.", "session_ended")
    account = await store.account(db, row["account_id"])
    if account is None or account["status"] != "active":
        return invalid_grant("The account is disabled.", "session_ended")
    await store.use_refresh_token(db, row["token_hash"])
    return await issuer.issue(db, account, row["family_id"])


async def refreshed(engine: AsyncEngine, issuer: TokenIssuer, refresh_token: str) -> dict:
    """New tokens for a refresh token in a transaction of their own; the refusal is raised
    once that transaction (which may have ended a sign-in) committed."""
    async with engine.begin() as db:
        issued = await refresh(db, issuer, refresh_token)
    if isinstance(issued, Problem):
        raise issued
    return issued


async def end_sign_in(db: AsyncConnection, refresh_token: str) -> None:
    """Sign out: every refresh token of the sign-in (its family) stops working."""
    await store.revoke_family_of(db, domain.token_digest(refresh_token))
