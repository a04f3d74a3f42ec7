"""Registration: matched against the registry replica when it is submitted, with the
registrant's consent to the privacy notice recorded beside it (handlers/consents.py), and a
registrant's own look at it (behind the same throttles as sign-in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.identity import domain
from services.identity.adapters import store
from services.identity.adapters.store import Db
from services.identity.adapters.passwords import PasswordPool, PoolBusy
from services.identity.handlers import SCHEMA, consents
from services.identity.handlers.throttles import (
    busy,
    clear_failures,
    hash_password,
    record_failures,
    refuse_if_throttled,
    registration_budget,
)
from sotay.contracts.identity import RegistrationSubmitted
from sotay.kit.db import driver_transaction
from sotay.kit.events import CITY, uuid7
from sotay.kit.http import Problem
from sotay.kit.outbox import emit
from sotay.kit.service import ServiceContext


@dataclass(frozen=True)
class RegistrationInput:
    party_card_no: str
    full_name: str
    date_of_birth: date
    phone: str
    password: str
    platform: str
    consent: consents.Consent | None  # None: asked at the first sign-in


async def admit(reader: AsyncEngine, throttles: domain.Throttles, passwords: PasswordPool, address_hash: str,
                password: str) -> str:
    """Count the registration against its address's budget (429 past it), then hash its
    password: before the registration's transaction, which would otherwise hold a connection
    while it waits for the hash. On asyncpg's own connection (`reader`: the pool in autocommit,
    kit/db.py driver_transaction), as the registration is."""
    async with driver_transaction(reader) as db:
        await registration_budget(db, throttles, address_hash)
    return await hash_password(passwords, password)


async def register(db: Db, ctx: ServiceContext, data: RegistrationInput, password_hash: str,
                   client: consents.Client) -> dict:
    """Store the registration with its match result and the registrant's consent. The caller
    hashed the password first, whatever the match, so every outcome costs the same. `db` is
    asyncpg's own connection in a driver_transaction on the route (Idempotency.run_on_driver),
    SQLAlchemy's elsewhere."""
    entry, has_account, has_pending = await store.registration_context(db, data.party_card_no,
                                                                       ctx.pii_hash(data.party_card_no))
    match = domain.match_registration(
        given=domain.given(data.full_name, data.date_of_birth, data.phone, ctx.pii_hash),
        entry=entry, has_account=has_account, has_pending=has_pending)
    reg = {"id": uuid7(), "party_card_no": data.party_card_no, "full_name": data.full_name,
           "date_of_birth": data.date_of_birth, "phone": data.phone, "password_hash": password_hash,
           "platform": data.platform, "match_result": match.result, "match_reasons": list(match.reasons),
           "member_id": entry.member_id if entry else None, "unit": entry.unit if entry else None,
           "unit_path": entry.unit_path if entry else f"/{CITY}/",
           "committee": entry.committee if entry else CITY}
    await store.insert_registration(db, reg)
    await emit(db, SCHEMA, RegistrationSubmitted(
        registration_id=str(reg["id"]), platform=data.platform, match_result=match.result,
        match_reasons=domain.public_reasons(match), member_id=reg["member_id"], unit=reg["unit"]),
        aggregate_id=reg["id"], committee=reg["committee"], unit=reg["unit"])
    if data.consent is not None:
        await consents.record_registration(db, reg, data.consent, client)
    return reg


async def own_registration(engine: AsyncEngine, throttles: domain.Throttles, passwords: PasswordPool, *,
                           card: str | None, name_key: str, address_hash: str, password: str) -> dict[str, Any]:
    """The registrant's latest registration the password opens (one of the card's last three);
    404 when none does, counted as a failure like a sign-in's. `name_key` is the card's keyed
    hash (the card as given when it does not parse)."""
    at = domain.attempt(f"status:{name_key}", address_hash)
    async with engine.connect() as db:
        had_failures = await refuse_if_throttled(db, throttles, at)
        rows = await store.recent_registrations(db, card or "")
    try:
        for row in rows or [None]:
            if await passwords.verify(row["password_hash"] if row else None, password):
                if had_failures:
                    async with engine.begin() as db:
                        await clear_failures(db, at)
                return row
    except PoolBusy as exc:
        raise busy(exc) from None
    async with engine.begin() as db:
        await record_failures(db, throttles, at.failure_keys)
    raise Problem(404, "Not found", "No registration matches this card number and password.",
                  code="registration_not_found")
