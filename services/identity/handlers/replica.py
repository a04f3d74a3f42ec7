"""Following the registry: identity's replica of its units and members (for matching
registrations and for scoping), and the accounts that follow their members (a member who
leaves good standing loses their account's sessions; a transfer moves the account)."""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity import domain
from services.identity.adapters import replica, store
from services.identity.handlers import SCHEMA, EndSessions
from sotay.contracts.identity import AccountDisabled, AccountMoved
from sotay.contracts.members import MemberRegistered, OrgUnitCreated
from sotay.kit.db import org_path
from sotay.kit.outbox import emit

MEMBER_REGISTERED = MemberRegistered.event_type()
UNIT_CREATED = OrgUnitCreated.event_type()


def _kind(envelope: dict[str, Any]) -> str:
    return envelope["type"] if envelope["type"] in (UNIT_CREATED, MEMBER_REGISTERED) else "other member event"


async def apply_registry_batch(db: AsyncConnection, envelopes: list[dict[str, Any]], *,
                               end_sessions: EndSessions, pii_hash: Callable[[str], str]) -> None:
    """A fetched batch of registry events, in stream order. A run of new units or
    of newly registered members (an import is hundreds of them) is written with
    one executemany, the rows pipelined in one round trip; a member registered
    has no account to follow yet. In a run of other member events, those of
    members with no account have nothing to follow either and are written the
    same way; a member's with an account are applied one at a time, in order,
    as each may disable or move the account (locked first)."""
    for kind, group in groupby(envelopes, key=_kind):
        run = list(group)
        if kind == UNIT_CREATED:
            await replica.insert_units(db, run)
        elif kind == MEMBER_REGISTERED:
            await replica.upsert_members(db, run, pii_hash)
        else:
            followed = await store.lock_members_accounts(db, sorted({e["data"]["member_id"] for e in run}))
            await replica.upsert_members(db, [e for e in run if e["data"]["member_id"] not in followed], pii_hash)
            for envelope in run:
                if envelope["data"]["member_id"] in followed:
                    await apply_member_event(db, envelope, end_sessions=end_sessions, pii_hash=pii_hash)


async def apply_member_event(db: AsyncConnection, envelope: dict[str, Any], *, end_sessions: EndSessions,
                             pii_hash: Callable[[str], str]) -> None:
    updated = await replica.upsert_member(db, envelope, pii_hash)
    # A member just entered into the registry has no account yet: nothing to follow.
    if updated and envelope["type"] != MEMBER_REGISTERED:
        await _follow_member(db, envelope["data"], end_sessions)


async def _follow_member(db: AsyncConnection, data: dict[str, Any], end_sessions: EndSessions) -> None:
    account = await store.account_of_member(db, data["member_id"])
    if account is None:
        return
    committee = domain.committee_of(data["unit_path"])
    if data["status"] not in domain.ACTIVE_STANDING and account["status"] == "active":
        reason = f"member is {data['status'].replace('_', ' ')}"
        await store.disable_account(db, account["id"], reason)
        await end_sessions(str(account["id"]))  # its access tokens too, in every service
        await store.audit(db, "registry", "disable_account", str(account["id"]), reason)
        await emit(db, SCHEMA, AccountDisabled(account_id=str(account["id"]), member_id=data["member_id"],
                                               unit=data["unit"], platform=account["platform"], reason=reason),
                   aggregate_id=account["id"], committee=committee, unit=data["unit"])
    elif data["unit"] != account["unit"]:
        await store.move_account(db, account["id"], unit=data["unit"], unit_path=org_path(data["unit_path"]),
                                 committee=committee)
        await emit(db, SCHEMA, AccountMoved(account_id=str(account["id"]), member_id=data["member_id"],
                                            from_unit=account["unit"], unit=data["unit"],
                                            platform=account["platform"]),
                   aggregate_id=account["id"], committee=committee, unit=data["unit"])

