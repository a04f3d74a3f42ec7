"""The org tree: units are listed, created, renamed and closed by the registry's writers."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members import domain
from services.members.adapters import registry
from services.members.handlers.access import ORG, REGISTRY_WRITERS, not_found
from sotay.contracts.members import OrgUnitCreated, OrgUnitUpdated
from sotay.kit.auth import Principal
from sotay.kit.db import path_codes
from sotay.kit.events import CITY, uuid7
from sotay.kit.http import decode_cursor, encode_cursor, invalid
from sotay.kit.outbox import emit
from sotay.kit.scope import forbidden


async def list_org_units(db: AsyncConnection, *, kind: str | None, parent: str | None, cursor: str | None,
                         limit: int, q: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """A page of units in path order, and the cursor of the next page (None when none follows);
    `q` keeps the units whose name (accents optional) or code holds each of its words."""
    parent_id = None
    if parent:
        parent_unit = await registry.unit_by_code(db, parent)
        if parent_unit is None:
            raise invalid([("parent", "is not a unit of the registry")])
        parent_id = parent_unit["id"]
    after = decode_cursor(cursor, 1)[0] if cursor else None
    words = domain.fold(q).split() if q and q.strip() else None
    units = await registry.list_units(db, kind=kind, parent_id=parent_id, limit=limit + 1, after=after,
                                      name_words=words)
    page = units[:limit]
    return page, encode_cursor(page[-1]["path"]) if len(units) > limit else None


async def get_org_unit(db: AsyncConnection, code: str) -> dict[str, Any]:
    unit = await registry.unit_by_code(db, code)
    if unit is None:
        raise not_found("unit")
    return unit


async def create_org_unit(db: AsyncConnection, actor: Principal, data: dict[str, Any]) -> dict:
    code, kind, parent_code = data["code"], data["kind"], data.get("parent")
    errors = []
    if not domain.UNIT_CODE_RE.match(code):
        errors.append(("code", "must be 1 to 40 lowercase letters, digits or hyphens"))
    if kind == "city":
        if parent_code:
            errors.append(("parent", "must be empty for the city"))
    elif not parent_code:
        errors.append(("parent", "is required"))
    if errors:
        raise invalid(errors)
    parent = None
    if kind != "city":
        parent = await registry.unit_by_code(db, parent_code)
        if parent is None:
            raise invalid([("parent", "is not a unit of the registry")])
        if parent["kind"] != domain.PARENT_KIND[kind]:
            raise invalid([("parent", f"a {kind} belongs to a {domain.PARENT_KIND[kind]}, not a {parent['kind']}")])
        if parent["closed_at"] is not None:
            raise invalid([("parent", "is closed")])
        await ORG.require(db, actor, parent["path"], REGISTRY_WRITERS)
    elif "city" not in actor.units_for("city_admin"):
        raise forbidden()
    if await registry.unit_by_code(db, code):
        raise invalid([("code", "is already used by another unit")])
    path = (parent["path"] if parent else "/") + code + "/"
    committee = code if kind == "committee" else parent["committee"] if parent else CITY
    unit = {"id": uuid7(), "code": code, "name": data["name"], "kind": kind,
            "parent_id": parent["id"] if parent else None, "committee": committee, "path": path,
            "wave": data.get("wave")}
    await registry.insert_unit(db, unit)
    event = OrgUnitCreated(unit_id=str(unit["id"]), code=code, name=unit["name"], kind=kind, parent=parent_code,
                           committee=committee, path=path_codes(path), wave=unit["wave"])
    await emit(db, registry.SCHEMA, event, aggregate_id=unit["id"], committee=committee, unit=code, sequence=1)
    return await registry.unit_by_code(db, code)


async def update_org_unit(db: AsyncConnection, actor: Principal, code: str, changes: dict[str, Any]) -> dict:
    unit = await registry.unit_by_code(db, code, lock=True)
    if unit is None:
        raise not_found("unit")
    await ORG.require(db, actor, unit["path"], REGISTRY_WRITERS)
    closed = changes.get("closed")
    if closed is None:  # not given, or given as null: as it is
        closed = unit["closed_at"] is not None
    if closed and unit["closed_at"] is None:
        if await registry.open_children(db, unit["id"]):
            raise invalid([("closed", "the unit still has open units under it")])
        if await registry.members_in_unit(db, unit["id"]):
            raise invalid([("closed", "the unit still has members; transfer them first")])
    name = changes.get("name") or unit["name"]
    wave = changes["wave"] if "wave" in changes else unit["wave"]
    version = await registry.update_unit(db, unit["id"], name=name, wave=wave, closed=closed)
    event = OrgUnitUpdated(unit_id=str(unit["id"]), code=code, name=name, wave=wave, closed=closed)
    await emit(db, registry.SCHEMA, event, aggregate_id=unit["id"], committee=unit["committee"], unit=code,
               sequence=version)
    return await registry.unit_by_code(db, code)
