"""SQL of identity's replica of the registry: its units and members, as the members
service's events describe them (newer versions only)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity.domain import committee_of
from sotay.kit.db import org_path
from sotay.kit.text import fold

_UPSERT_MEMBER = text(
    "INSERT INTO registry_members (member_id, party_card_no, name_folded, full_name, date_of_birth, unit, unit_path, "
    "committee, status, eligible, phone_hash, phone_tail, version) VALUES (:member_id, :card, :name, :full_name, "
    ":dob, :unit, :path, :committee, :status, :eligible, :phone_hash, :phone_tail, :version) "
    "ON CONFLICT (member_id) DO UPDATE SET party_card_no = EXCLUDED.party_card_no, "
    "name_folded = EXCLUDED.name_folded, full_name = EXCLUDED.full_name, phone_tail = EXCLUDED.phone_tail, "
    "date_of_birth = EXCLUDED.date_of_birth, unit = EXCLUDED.unit, "
    "unit_path = EXCLUDED.unit_path, committee = EXCLUDED.committee, status = EXCLUDED.status, "
    "eligible = EXCLUDED.eligible, phone_hash = EXCLUDED.phone_hash, version = EXCLUDED.version "
    "WHERE registry_members.version < EXCLUDED.version RETURNING 1")
_INSERT_UNIT = text(
    "INSERT INTO registry_units (code, kind, path, committee, version) VALUES (:c, :k, :p, :m, :v) "
    "ON CONFLICT (code) DO NOTHING")


def member_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {"member_id": data["member_id"], "card": data["party_card_no"], "name": fold(data["full_name"]),
            "full_name": data["full_name"], "phone_tail": data.get("phone_tail"),
            "dob": date.fromisoformat(data["date_of_birth"]) if data.get("date_of_birth") else None, "unit": data["unit"],
            "path": org_path(data["unit_path"]), "committee": committee_of(data["unit_path"]),
            "status": data["status"], "eligible": data["eligible"], "phone_hash": data.get("phone_hash"),
            "version": envelope.get("sequence") or 0}


def unit_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {"c": data["code"], "k": data["kind"], "p": org_path(data["path"]), "m": data["committee"],
            "v": envelope.get("sequence") or 1}


async def insert_units(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    """New units (one executemany, the rows pipelined in one round trip); a unit known already stays."""
    await db.execute(_INSERT_UNIT, [unit_row(e) for e in envelopes])


async def upsert_members(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    """Members as the events describe them, in one executemany."""
    await db.execute(_UPSERT_MEMBER, [member_row(e) for e in envelopes])


async def upsert_member(db: AsyncConnection, envelope: dict[str, Any]) -> bool:
    """One member as the event describes them; whether it was newer than the replica's."""
    return (await db.execute(_UPSERT_MEMBER, member_row(envelope))).first() is not None

