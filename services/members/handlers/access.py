"""Who may act where in the registry: the roles that read and write it, the org tree their
scopes are drawn from, and what a reader sees of the members there."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members import domain
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

    def __init__(self, grants: list[tuple[str, str, str]]) -> None:
        self.grants = grants  # (role, unit code, unit path) of each registry role the actor holds
        self.readable = [path for _, _, path in grants]
        self.writable = [path for role, _, path in grants if role in REGISTRY_WRITERS]

    @classmethod
    async def of(cls, db: AsyncConnection, actor: Principal) -> Scopes:
        units = await ORG.paths_of(db, actor.units_for(*REGISTRY_READERS))
        return cls([(g.role, g.unit, units[g.unit]) for g in actor.grants
                    if g.role in REGISTRY_READERS and g.unit in units])

    def reads(self, path: str) -> bool:
        return covers(self.readable, path)

    def masked(self, path: str) -> bool:
        """Whether a member at `path` is shown masked (a 403 when no role covers it)."""
        if covers(self.writable, path):
            return False
        if self.reads(path):
            return True
        raise forbidden()

    def reader(self, actor: Principal, path: str | None = None) -> domain.Reader:
        """The actor as the audit keeps them for a read at `path`: the grant they read under (a
        registry writer's before a reader's, the nearest to `path`); for a list of several units
        (no `path`), their broadest grant."""
        covering = [g for g in self.grants if path is None or path.startswith(g[2])]
        pick = max(covering, key=lambda g: (g[0] in REGISTRY_WRITERS, len(g[2]) if path else -len(g[2])),
                   default=None)
        return domain.Reader(actor.subject, pick[0] if pick else None, pick[1] if pick else None,
                             actor.member_card_no)


def self_reader(actor: Principal, member: dict[str, Any]) -> domain.Reader:
    """The member reading their own record or requests."""
    return domain.Reader(actor.subject, "member", member["unit"], actor.member_card_no)


def is_member_concerned(actor: Principal, member: dict[str, Any], requested_by: str | None = None) -> bool:
    """Whether the actor is the member a record or a request is about: by the card in their
    token, or (a staff account without a card) by being the account that asked."""
    return actor.member_card_no == member["party_card_no"] or (requested_by is not None
                                                              and actor.subject == requested_by)
