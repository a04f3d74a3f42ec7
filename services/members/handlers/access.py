"""Who may act where in the registry: the roles that read and write it, the org tree their
scopes are drawn from, and what a reader sees of the members there."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.auth import Principal
from sotay.kit.http import Problem
from sotay.kit.scope import OrgTree, covers, forbidden

REGISTRY_WRITERS = ("unit_admin", "city_admin")
REGISTRY_READERS = ("unit_admin", "city_admin", "cell_secretary")
ORG = OrgTree("org_units")


def not_found(what: str) -> Problem:
    return Problem(404, "Not found", f"No such {what}.")


class Scopes:
    """The subtrees an actor reads and writes in, looked up once for a request that shows
    several members: a registry writer over a member sees their identifiers in clear, a
    reader only (a cell secretary) sees them masked (domain.mask_value)."""

    def __init__(self, readable: list[str], writable: list[str]) -> None:
        self.readable, self.writable = readable, writable

    @classmethod
    async def of(cls, db: AsyncConnection, actor: Principal) -> Scopes:
        units = await ORG.paths_of(db, actor.units_for(*REGISTRY_READERS))
        paths = {role: [units[g.unit] for g in actor.grants if g.role == role and g.unit in units]
                 for role in REGISTRY_READERS}
        return cls(readable=[p for role in REGISTRY_READERS for p in paths[role]],
                   writable=[p for role in REGISTRY_WRITERS for p in paths[role]])

    def reads(self, path: str) -> bool:
        return covers(self.readable, path)

    def masked(self, path: str) -> bool:
        """Whether a member at `path` is shown masked (a 403 when no role covers it)."""
        if covers(self.writable, path):
            return False
        if self.reads(path):
            return True
        raise forbidden()


def is_member_concerned(actor: Principal, member: dict[str, Any], requested_by: str | None = None) -> bool:
    """Whether the actor is the member a record or a request is about: by the card in their
    token, or (a staff account without a card) by being the account that asked."""
    return actor.member_card_no == member["party_card_no"] or (requested_by is not None
                                                              and actor.subject == requested_by)
