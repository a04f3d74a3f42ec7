"""Content's replicas of the registry, as tables: the org tree (`org_units`, for audiences and
scopes) and where each member sits (`readers`, for the feed, which follows a transfer, and for a
cell's meeting roll). Written only by the registry consumer (handlers/replica.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.auth import Principal
from sotay.kit.db import Db, Statement
from sotay.kit.events import CITY
from sotay.kit.scope import OrgTree

# The org tree as content keeps it: where an actor's roles reach (kit/scope.py).
ORG = OrgTree("org_units")

INSERT_UNIT = text(
    "INSERT INTO org_units (code, name, kind, path, ancestors, committee) VALUES (:c, :n, :k, :p, :a, :m) "
    "ON CONFLICT (code) DO NOTHING")
UPDATE_UNIT = text("UPDATE org_units SET name = :n, closed = :x WHERE code = :c")
# Any member event carries the whole snapshot; an older one than we hold is dropped.
UPSERT_READER = text(
    "INSERT INTO readers (member_id, party_card_no, full_name, unit, unit_path, ancestors, committee, status, "
    "temporary_unit, version) VALUES (:id, :card, :name, :unit, :path, :anc, :committee, :status, :temporary, "
    ":version) ON CONFLICT (member_id) DO UPDATE SET party_card_no = EXCLUDED.party_card_no, "
    "full_name = EXCLUDED.full_name, unit = EXCLUDED.unit, unit_path = EXCLUDED.unit_path, "
    "ancestors = EXCLUDED.ancestors, committee = EXCLUDED.committee, status = EXCLUDED.status, "
    "temporary_unit = EXCLUDED.temporary_unit, version = EXCLUDED.version WHERE readers.version < EXCLUDED.version")

# Where the reader sits: the registry replica by card number (it follows a
# transfer at once), and the cell they attend on a temporary transfer (its news and meetings reach
# them too); a token without a card (staff) reads as its units.
READER = """
    SELECT coalesce(
        (SELECT r.ancestors || coalesce((SELECT ARRAY[t.path] FROM org_units t WHERE t.code = r.temporary_unit),
                                        CAST(ARRAY[] AS text[]))
         FROM readers r WHERE r.party_card_no = :card),
        (SELECT array_agg(DISTINCT a) FROM org_units, unnest(ancestors) a WHERE code = ANY(:units))
    ) AS anc
"""


def reader_params(actor: Principal) -> dict[str, Any]:
    """The parameters of READER (and the account) for the caller."""
    units = [actor.unit] if actor.unit else [g.unit for g in actor.grants]
    return {"card": actor.member_card_no, "units": units, "account": actor.subject}


async def apply(db: AsyncConnection, statement: Any, rows: list[dict[str, Any]]) -> None:
    """One of the statements above for a run of rows: one executemany, pipelined in one round trip."""
    await db.execute(statement, rows)


async def unit_paths(db: AsyncConnection, codes: list[str]) -> dict[str, str | None]:
    """The path of each of `codes` (None: not a unit the tree knows)."""
    found = await ORG.paths_of(db, codes)
    return {code: found.get(code) for code in codes}


async def unit(db: AsyncConnection, code: str) -> Any:
    """The unit's kind, path and committee, or None."""
    return (await db.execute(text("SELECT kind, path, committee FROM org_units WHERE code = :c"),
                             {"c": code})).first()


async def committee_of_unit(db: AsyncConnection, code: str | None) -> str | None:
    return (await db.execute(text("SELECT committee FROM org_units WHERE code = :c"), {"c": code})).scalar()


async def ancestors_of_units(db: AsyncConnection, codes: list[str]) -> set[str]:
    """The paths of the units at `codes` and of those above them."""
    rows = await db.execute(text("SELECT ancestors FROM org_units WHERE code = ANY(:c)"), {"c": codes})
    return {path for (row,) in rows for path in row}


# Where a reader sits: by card number in the replica, else at the unit the token names.
_SEAT_BY_CARD = Statement("SELECT member_id, full_name, unit, ancestors, committee, temporary_unit FROM readers "
                          "WHERE party_card_no = $1")
_SEAT_BY_UNIT = Statement("SELECT ancestors, committee FROM org_units WHERE code = $1")


async def reader_of(db: Db, actor: Principal) -> dict[str, Any]:
    """Where the caller sits, by their card number in the replica (it follows a
    transfer at once); a token with no card, or one the replica does not know
    yet, sits at the unit its token names (with no ancestors if the tree does
    not know that unit either). On SQLAlchemy's connection or asyncpg's own (a
    driver_transaction's: the read of an article)."""
    row = await _SEAT_BY_CARD.row(db, actor.member_card_no) if actor.member_card_no else None
    if row:
        return dict(row)
    return _seat_at_unit(actor, await _SEAT_BY_UNIT.row(db, actor.unit))


def _seat_at_unit(actor: Principal, unit: Any) -> dict[str, Any]:
    return {"member_id": None, "full_name": None, "unit": actor.unit, "temporary_unit": None,
            "ancestors": list(unit["ancestors"]) if unit else [], "committee": unit["committee"] if unit else CITY}
