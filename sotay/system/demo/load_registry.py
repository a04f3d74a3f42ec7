"""Loads the demo registry (a Hanoi-like tree and synthetic members) into an
empty registry, through the same bulk paths as a real import, so every unit
and member also produces its event."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import orjson
from sqlalchemy import text

from services.members.adapters.bulk import ImportReport, MemberImporter, Progress
from sotay.system.demo.registry import DEFAULT_DEMO_MEMBERS, build_org_tree, generate_members
from sotay.contracts.members import OrgUnitCreated
from sotay.kit.db import path_codes
from sotay.kit.events import make_message, uuid7
from sotay.kit.outbox import notify_channel
from sotay.kit.service import ServiceContext

log = logging.getLogger("sotay.members.demo")


async def registry_is_empty(ctx: ServiceContext) -> bool:
    async with ctx.engine.connect() as conn:
        return (await conn.execute(text("SELECT NOT EXISTS (SELECT 1 FROM org_units)"))).scalar_one()


async def load_demo(ctx: ServiceContext, *, members: int = DEFAULT_DEMO_MEMBERS, seed: int = 2023,
                    scale: float = 1.0, progress: Progress | None = None) -> dict[str, Any]:
    if not await registry_is_empty(ctx):
        return {"loaded": False, "reason": "the registry already has units"}
    units = build_org_tree(seed, scale=scale)
    await insert_units(ctx, units)
    today = date.today()
    rows = enumerate(generate_members(units, members, seed, today=today), start=2)
    report = ImportReport(import_id=uuid7())
    await MemberImporter(ctx.engine, ctx, actor="demo", source="demo", today=today).run(
        rows, report, progress=progress)
    return {"loaded": True, "units": len(units), "members": report.imported, "rejected": report.rejected}


async def insert_units(ctx: ServiceContext, units) -> None:
    by_code: dict[str, dict[str, Any]] = {}
    records, outbox = [], []
    for u in units:  # parents come before children
        parent = by_code.get(u.parent) if u.parent else None
        path = (parent["path"] if parent else "/") + u.code + "/"
        committee = u.code if u.kind == "committee" else parent["committee"] if parent else "city"
        unit = {"id": uuid7(), "path": path, "committee": committee}
        by_code[u.code] = unit
        records.append((unit["id"], u.code, u.name, u.kind, parent["id"] if parent else None, committee, path,
                        u.wave))
        event = OrgUnitCreated(unit_id=str(unit["id"]), code=u.code, name=u.name, kind=u.kind, parent=u.parent,
                               committee=committee, path=path_codes(path), wave=u.wave)
        message = make_message(event, aggregate_id=str(unit["id"]), committee=committee, orgunit=u.code,
                               sequence=1)
        outbox.append((message.id, message.subject, message.body(), orjson.dumps({}).decode()))
    async with ctx.engine.begin() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.copy_records_to_table(
            "org_units", records=records,
            columns=("id", "code", "name", "kind", "parent_id", "committee", "path", "wave"))
        await raw.copy_records_to_table("outbox", records=outbox, columns=("event_id", "subject", "body", "headers"))
        await conn.execute(text("SELECT pg_notify(:c, '')"), {"c": notify_channel("members")})
    log.info("demo: %d units", len(units))
