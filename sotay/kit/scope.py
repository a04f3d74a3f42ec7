"""Where an actor may act: the subtrees of the org tree that their roles cover.

A role is granted on a unit (a code); the unit's path ("/city/ba-dinh/…/")
says what lies under it. Each service keeps the part of the org tree it
needs in a table with `code` and `path` (members' registry `org_units`, the
replicas identity and content keep). Three steps, the same everywhere:

    paths = await ORG.scope_paths(db, actor, APPROVERS)        # the subtrees
    await ORG.require(db, actor, unit_path, APPROVERS)         # one thing: 403 outside them
    paths = await ORG.scoped(db, actor, EDITORS, "The desk is for editors.")  # a list: 403 with none
    clause, params = within_subtrees("a.unit_path", paths)     # its SQL condition (kit/db.py)
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.auth import Principal
from sotay.kit.http import Problem

OUTSIDE = "This is outside the units your roles cover."


def forbidden(detail: str = OUTSIDE) -> Problem:
    return Problem(403, "Forbidden", detail)


def covers(paths: list[str], path: str) -> bool:
    """Whether `path` lies in one of the subtrees at `paths`."""
    return any(path.startswith(p) for p in paths)


class OrgTree:
    """The org tree as one service keeps it: `table` has the columns `code` and `path`."""

    def __init__(self, table: str = "org_units") -> None:
        self._paths = text(f"SELECT code, path FROM {table} WHERE code = ANY(:codes)")

    async def paths_of(self, db: AsyncConnection, codes: list[str]) -> dict[str, str]:
        """The path of each code the tree knows (unknown codes are left out)."""
        if not codes:
            return {}
        return {r.code: r.path for r in await db.execute(self._paths, {"codes": list(codes)})}

    async def scope_paths(self, db: AsyncConnection, actor: Principal, roles: tuple[str, ...]) -> list[str]:
        """The subtrees where `actor` holds one of `roles`."""
        return list((await self.paths_of(db, actor.units_for(*roles))).values())

    async def require(self, db: AsyncConnection, actor: Principal, path: str, roles: tuple[str, ...],
                      detail: str = OUTSIDE) -> None:
        """403 unless `path` lies where `actor` holds one of `roles`."""
        if not covers(await self.scope_paths(db, actor, roles), path):
            raise forbidden(detail)

    async def scoped(self, db: AsyncConnection, actor: Principal, roles: tuple[str, ...],
                     detail: str = OUTSIDE) -> list[str]:
        """The subtrees a list of `actor`'s is drawn from; 403 when the roles are held nowhere."""
        paths = await self.scope_paths(db, actor, roles)
        if not paths:
            raise forbidden(detail)
        return paths
