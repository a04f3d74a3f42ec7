"""Content's replicas, built only from members events: the org tree (for
audiences and scopes) and where each member sits (for the feed, which
follows a transfer, and for a cell's meeting roll). The tables are
adapters/replica.py's."""

from __future__ import annotations

from itertools import groupby
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.adapters.replica import INSERT_UNIT, UPDATE_UNIT, UPSERT_READER, apply
from services.content.domain import ancestors, committee_of
from sotay.contracts.members import MEMBER_SNAPSHOTS, OrgUnitCreated, OrgUnitUpdated
from sotay.kit.db import org_path
from sotay.kit.events import sequence_of


def _unit_created_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    path = org_path(data["path"])
    return {"c": data["code"], "n": data["name"], "k": data["kind"], "p": path, "a": ancestors(path),
            "m": data["committee"]}


def _unit_updated_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {"n": data["name"], "x": data["closed"], "c": data["code"]}


def _reader_row(envelope: dict[str, Any]) -> dict[str, Any]:
    """A reader as a member event says: the card and the name from its personal part (opened by
    the consumer with the member's key; None while the member's data is restricted)."""
    data = envelope["data"]
    path = org_path(data["unit_path"])
    person = data.get("personal") or {}
    return {"id": data["member_id"], "card": person.get("party_card_no"), "name": person.get("full_name"),
            "unit": data["unit"], "path": path, "anc": ancestors(path), "committee": committee_of(path),
            "status": data["status"], "temporary": data.get("temporary_unit"), "version": sequence_of(envelope)}


_KIND = {OrgUnitCreated.event_type(): "unit created", OrgUnitUpdated.event_type(): "unit updated",
         **{t.event_type(): "member" for t in MEMBER_SNAPSHOTS}}
_STATEMENTS = {"unit created": (INSERT_UNIT, _unit_created_row), "unit updated": (UPDATE_UNIT, _unit_updated_row),
               "member": (UPSERT_READER, _reader_row)}


async def apply_registry_batch(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    """A fetched batch of registry events, in stream order: each run of events
    with one statement (a registry import is hundreds of MemberRegistered) is
    one executemany, its rows pipelined in one round trip and applied in order."""
    for kind, run in groupby(envelopes, key=lambda e: _KIND[e["type"]]):
        statement, to_row = _STATEMENTS[kind]
        await apply(db, statement, [to_row(e) for e in run])

