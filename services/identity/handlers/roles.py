"""Roles: granting and taking away a role over a unit, within the grantor's reach."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity import domain
from services.identity.adapters import store
from services.identity.adapters.store import ORG
from services.identity.handlers import EndSessions
from sotay.kit.auth import Principal
from sotay.kit.events import CITY
from sotay.kit.http import Problem, invalid
from sotay.kit.scope import covers, forbidden


async def account_in_reach(db: AsyncConnection, actor: Principal, account_id: Any, role: str,
                           unit: str) -> dict[str, Any]:
    """The account whose `role` over `unit` the actor grants or revokes, if the actor may:
    not their own account; an account whose member (or staff home unit) sits in a subtree the
    actor administers; and a role the actor holds, or outranks, over that unit."""
    if str(account_id) == actor.subject:
        raise forbidden("Nobody changes their own roles or account.")
    if role == "city_admin" and unit != CITY:
        raise invalid([("unit", "the city admin role covers the city only")])
    path = await store.unit_path(db, unit)
    if path is None:
        raise invalid([("unit", "is not a unit of the registry")])
    account = await store.account(db, account_id, lock=True)
    if account is None or not covers(await ORG.scope_paths(db, actor, domain.GRANTORS), account["unit_path"]):
        raise Problem(404, "Not found", "No such account in the units you administer.")
    await ORG.require(db, actor, path, domain.roles_covering(role),
                      "You may grant only roles you hold yourself over that unit, or lower ones.")
    return account


async def grant_role(db: AsyncConnection, actor: Principal, account_id: Any, role: str,
                     unit: str) -> list[tuple[str, str]]:
    """Grant `role` over `unit`; the account's roles after."""
    await account_in_reach(db, actor, account_id, role, unit)
    await store.grant(db, account_id, role, unit, actor.subject)
    await store.audit(db, actor.subject, "grant_role", str(account_id), details={"role": role, "unit": unit})
    return await store.grants_of(db, account_id)


async def revoke_role(db: AsyncConnection, actor: Principal, account_id: Any, role: str, unit: str,
                      *, end_sessions: EndSessions) -> list[tuple[str, str]]:
    """Take a staff role away; the account's tokens issued before end everywhere within
    seconds (the revocation bucket), and its next token no longer carries the role. The
    account's roles after."""
    if role == "member":
        raise invalid([("role", "a member's own role follows the registry (transfers, standing)")])
    await account_in_reach(db, actor, account_id, role, unit)
    if not await store.revoke(db, account_id, role, unit):
        raise Problem(404, "Not found", "The account does not hold this role over this unit.")
    await store.audit(db, actor.subject, "revoke_role", str(account_id), details={"role": role, "unit": unit})
    await end_sessions(str(account_id))
    return await store.grants_of(db, account_id)
