"""Which units a caller may see: those under the units their roles are granted on."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics.adapters import figures
from sotay.kit.auth import ROLES, Principal
from sotay.kit.http import Problem
from sotay.kit.scope import OrgTree

ORG = OrgTree("units")
OUTSIDE = "This unit is outside the units your roles cover."


async def scoped_unit(db: AsyncConnection, user: Principal, code: str,
                      roles: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The unit (by code or id), if the caller's roles (any of them, or one of
    `roles`) cover it; 404 when there is no such unit, 403 when it is outside."""
    u = await figures.unit(db, code)
    if u is None:
        raise Problem(404, "Not found", f"No unit {code}.")
    await ORG.require(db, user, u["path"], roles or ROLES, OUTSIDE)
    return u
