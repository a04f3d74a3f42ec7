"""Content's replicas, built only from members events: the org tree (for
audiences and scopes) and where each member sits (for the feed, which
follows a transfer, and for a cell's meeting roll)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.domain import ancestors, committee_of
from sotay.auth import Principal
from sotay.db import org_path
from sotay.events import CITY


async def apply_unit_created(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    data = envelope["data"]
    path = org_path(data["path"])
    await db.execute(text(
        "INSERT INTO org_units (code, name, kind, path, ancestors, committee) VALUES (:c, :n, :k, :p, :a, :m) "
        "ON CONFLICT (code) DO NOTHING"),
        {"c": data["code"], "n": data["name"], "k": data["kind"], "p": path, "a": ancestors(path),
         "m": data["committee"]})


async def apply_unit_updated(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    data = envelope["data"]
    await db.execute(text("UPDATE org_units SET name = :n, closed = :x WHERE code = :c"),
                     {"n": data["name"], "x": data["closed"], "c": data["code"]})


async def apply_member(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    """Any member event carries the whole snapshot; an older one than we hold is dropped."""
    data = envelope["data"]
    path = org_path(data["unit_path"])
    await db.execute(text(
        "INSERT INTO readers (member_id, party_card_no, full_name, unit, unit_path, ancestors, committee, status, "
        "version) VALUES (:id, :card, :name, :unit, :path, :anc, :committee, :status, :version) "
        "ON CONFLICT (member_id) DO UPDATE SET party_card_no = EXCLUDED.party_card_no, "
        "full_name = EXCLUDED.full_name, unit = EXCLUDED.unit, unit_path = EXCLUDED.unit_path, "
        "ancestors = EXCLUDED.ancestors, committee = EXCLUDED.committee, status = EXCLUDED.status, "
        "version = EXCLUDED.version WHERE readers.version < EXCLUDED.version"),
        {"id": data["member_id"], "card": data["party_card_no"], "name": data["full_name"], "unit": data["unit"],
         "path": path, "anc": ancestors(path), "committee": committee_of(path), "status": data["status"],
         "version": envelope.get("sequence") or 0})


async def reader_of(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    """Where the caller sits, by their card number in the replica (it follows a
    transfer at once); a token with no card, or one the replica does not know
    yet, sits at the unit its token names (with no ancestors if the tree does
    not know that unit either)."""
    row = (await db.execute(text(
        "SELECT member_id, full_name, unit, ancestors, committee FROM readers WHERE party_card_no = :c"),
        {"c": actor.member_card_no})).mappings().first() if actor.member_card_no else None
    if row:
        return dict(row)
    unit = (await db.execute(text("SELECT ancestors, committee FROM org_units WHERE code = :u"),
                             {"u": actor.unit})).mappings().first()
    return {"member_id": None, "full_name": None, "unit": actor.unit,
            "ancestors": list(unit["ancestors"]) if unit else [], "committee": unit["committee"] if unit else CITY}
