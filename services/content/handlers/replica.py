"""Content's replicas, built only from members events: the org tree (for
audiences and scopes) and where each member sits (for the feed, which
follows a transfer, and for a cell's meeting roll)."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.domain import ancestors, committee_of
from sotay.contracts.members import MEMBER_SNAPSHOTS, OrgUnitCreated, OrgUnitUpdated
from sotay.kit.auth import Principal
from sotay.kit.db import org_path
from sotay.kit.events import CITY


_INSERT_UNIT = text(
    "INSERT INTO org_units (code, name, kind, path, ancestors, committee) VALUES (:c, :n, :k, :p, :a, :m) "
    "ON CONFLICT (code) DO NOTHING")
_UPDATE_UNIT = text("UPDATE org_units SET name = :n, closed = :x WHERE code = :c")
# Any member event carries the whole snapshot; an older one than we hold is dropped.
_UPSERT_READER = text(
    "INSERT INTO readers (member_id, party_card_no, full_name, unit, unit_path, ancestors, committee, status, "
    "version) VALUES (:id, :card, :name, :unit, :path, :anc, :committee, :status, :version) "
    "ON CONFLICT (member_id) DO UPDATE SET party_card_no = EXCLUDED.party_card_no, "
    "full_name = EXCLUDED.full_name, unit = EXCLUDED.unit, unit_path = EXCLUDED.unit_path, "
    "ancestors = EXCLUDED.ancestors, committee = EXCLUDED.committee, status = EXCLUDED.status, "
    "version = EXCLUDED.version WHERE readers.version < EXCLUDED.version")


def _unit_created_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    path = org_path(data["path"])
    return {"c": data["code"], "n": data["name"], "k": data["kind"], "p": path, "a": ancestors(path),
            "m": data["committee"]}


def _unit_updated_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {"n": data["name"], "x": data["closed"], "c": data["code"]}


def _reader_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    path = org_path(data["unit_path"])
    return {"id": data["member_id"], "card": data["party_card_no"], "name": data["full_name"], "unit": data["unit"],
            "path": path, "anc": ancestors(path), "committee": committee_of(path), "status": data["status"],
            "version": envelope.get("sequence") or 0}


_KIND = {OrgUnitCreated.event_type(): "unit created", OrgUnitUpdated.event_type(): "unit updated",
         **{t.event_type(): "member" for t in MEMBER_SNAPSHOTS}}
_STATEMENTS = {"unit created": (_INSERT_UNIT, _unit_created_row), "unit updated": (_UPDATE_UNIT, _unit_updated_row),
               "member": (_UPSERT_READER, _reader_row)}


async def apply_registry_batch(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    """A fetched batch of registry events, in stream order: each run of events
    with one statement (a registry import is hundreds of MemberRegistered) is
    one executemany, its rows pipelined in one round trip and applied in order."""
    for kind, run in groupby(envelopes, key=lambda e: _KIND[e["type"]]):
        statement, to_row = _STATEMENTS[kind]
        await db.execute(statement, [to_row(e) for e in run])


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
