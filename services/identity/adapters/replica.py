"""SQL of identity's replica of the registry: its units and members, as the members
service's events describe them (newer versions only). Of a person it keeps only keyed hashes of
what matching needs, and the phone's last three digits an approver compares by."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity.domain import committee_of
from sotay.kit.db import org_path
from sotay.kit.events import sequence_of

_UPSERT_MEMBER = text(
    "INSERT INTO registry_members (member_id, card_hash, name_hash, dob_hash, unit, unit_path, committee, status, "
    "eligible, phone_hash, phone_tail, version) VALUES (:member_id, :card_hash, :name_hash, :dob_hash, :unit, :path, "
    ":committee, :status, :eligible, :phone_hash, :phone_tail, :version) "
    "ON CONFLICT (member_id) DO UPDATE SET card_hash = EXCLUDED.card_hash, name_hash = EXCLUDED.name_hash, "
    "dob_hash = EXCLUDED.dob_hash, phone_tail = EXCLUDED.phone_tail, unit = EXCLUDED.unit, "
    "unit_path = EXCLUDED.unit_path, committee = EXCLUDED.committee, status = EXCLUDED.status, "
    "eligible = EXCLUDED.eligible, phone_hash = EXCLUDED.phone_hash, version = EXCLUDED.version "
    "WHERE registry_members.version < EXCLUDED.version RETURNING 1")
_INSERT_UNIT = text(
    "INSERT INTO registry_units (code, kind, path, committee, version) VALUES (:c, :k, :p, :m, :v) "
    "ON CONFLICT (code) DO NOTHING")


def member_row(envelope: dict[str, Any], pii_hash: Callable[[str], str]) -> dict[str, Any]:
    """The replica's row: the keyed hashes matching needs (the card's made here, by the same key
    the registry hashes with), from the event's personal part as the consumer opened it; none of
    them while the member's data is restricted, or once their key was destroyed (the part is None)."""
    data = envelope["data"]
    person = data.get("personal") or {}
    card = person.get("party_card_no")
    return {"member_id": data["member_id"], "card_hash": pii_hash(card) if card else None,
            "name_hash": person.get("name_hash"), "dob_hash": person.get("date_of_birth_hash"),
            "phone_hash": person.get("phone_hash"), "phone_tail": person.get("phone_tail"), "unit": data["unit"],
            "path": org_path(data["unit_path"]), "committee": committee_of(data["unit_path"]),
            "status": data["status"], "eligible": data["eligible"], "version": sequence_of(envelope)}


def unit_row(envelope: dict[str, Any]) -> dict[str, Any]:
    data = envelope["data"]
    return {"c": data["code"], "k": data["kind"], "p": org_path(data["path"]), "m": data["committee"],
            "v": sequence_of(envelope) or 1}


async def insert_units(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    """New units (one executemany, the rows pipelined in one round trip); a unit known already stays."""
    await db.execute(_INSERT_UNIT, [unit_row(e) for e in envelopes])


async def upsert_members(db: AsyncConnection, envelopes: list[dict[str, Any]], pii_hash: Callable[[str], str]) -> None:
    """Members as the events describe them, in one executemany."""
    if envelopes:
        await db.execute(_UPSERT_MEMBER, [member_row(e, pii_hash) for e in envelopes])


async def upsert_member(db: AsyncConnection, envelope: dict[str, Any], pii_hash: Callable[[str], str]) -> bool:
    """One member as the event describes them; whether it was newer than the replica's."""
    return (await db.execute(_UPSERT_MEMBER, member_row(envelope, pii_hash))).first() is not None

