"""Accounts made and ended by hand: a staff account from the command line (`sotay
create-user`), and disabling one."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity.adapters import store
from services.identity.handlers import SCHEMA, EndSessions
from services.identity.handlers.roles import account_in_reach
from sotay.contracts.identity import AccountDisabled
from sotay.kit.auth import Principal
from sotay.kit.events import CITY, uuid7
from sotay.kit.http import Problem, invalid
from sotay.kit.outbox import emit


async def create_user(db: AsyncConnection, *, card_no: str, phone: str, password_hash: str, role: str,
                      unit: str, by: str, card_hash: str | None = None) -> dict:
    """An account made from the command line (bootstrapping the first city admin). It is linked
    to the registry when the card is there (looked up by `card_hash`, its keyed hash, as the
    replica holds it), and is active at once."""
    path = await store.unit_path(db, unit) if unit != CITY else f"/{CITY}/"
    if path is None:
        raise invalid([("unit", "is not a unit of the registry (is the registry loaded?)")])
    if await store.card_has_account(db, card_no):
        raise Problem(409, "Already has an account", "This card number already has an account.")
    entry = await store.registry_entry(db, card_hash) if card_hash else None
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


async def disable_account(db: AsyncConnection, actor: Principal, account_id: Any, reason: str | None,
                          *, end_sessions: EndSessions) -> dict:
    """A staff account can no longer sign in, and its sessions end everywhere within seconds.
    The actor must be able to take away every role the account holds."""
    if not reason or not reason.strip():
        raise invalid([("reason", "is required: it is kept in the audit log")])
    grants = await store.grants_of(db, account_id)
    for role, unit in grants or [("member", CITY)]:
        await account_in_reach(db, actor, account_id, role, unit)
    account = await store.account(db, account_id)
    if account["status"] != "active":
        raise Problem(409, "Already disabled", "This account is already disabled.")
    await store.disable_account(db, account_id, reason.strip())
    await end_sessions(str(account_id))
    await store.audit(db, actor.subject, "disable_account", str(account_id), reason.strip())
    if account["member_id"] is not None:  # a member's installation stops counting
        await emit(db, SCHEMA, AccountDisabled(account_id=str(account_id), member_id=str(account["member_id"]),
                                               unit=account["unit"], platform=account["platform"],
                                               reason=reason.strip()),
                   aggregate_id=account_id, committee=account["committee"], unit=account["unit"])
    return {"account_id": str(account_id), "status": "disabled"}
