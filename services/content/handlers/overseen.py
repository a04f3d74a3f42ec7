"""The subtrees a staff member follows (the cells' meetings, the study of the cells): the unit they
ask about when it is one of theirs, else every unit where they hold one of the roles."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.adapters.replica import ORG, unit_paths
from sotay.kit.auth import Principal
from sotay.kit.http import Problem, invalid
from sotay.kit.scope import covers


async def subtrees(db: AsyncConnection, actor: Principal, roles: tuple[str, ...], unit_code: str | None,
                   refusal: str) -> list[str]:
    """The paths followed: 403 (`refusal`) without any of `roles`, 422 for a unit the tree does not
    know, 403 for one outside the caller's."""
    scopes = await ORG.scope_paths(db, actor, roles)
    if not scopes:
        raise Problem(403, "Forbidden", refusal)
    if not unit_code:
        return scopes
    path = (await unit_paths(db, [unit_code]))[unit_code]
    if path is None:
        raise invalid([("unit", "is not a unit of the registry")])
    if not covers(scopes, path):
        raise Problem(403, "Forbidden", "That unit is not one of yours.")
    return [path]
