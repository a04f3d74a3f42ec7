"""The SQL of the live projections: the org tree (`units`), members,
registrations and readers, each read for a batch in one query and written
back in one statement (handlers/projection.py applies the events)."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics.domain.rollout import MemberState, RegistrationState
from sotay.kit.db import org_path


async def add_units(db: AsyncConnection, created: list[dict[str, Any]]) -> None:
    """Units the tree learns (an OrgUnitCreated's data each); a known code is left as it is."""
    if created:
        await db.execute(text(
            "INSERT INTO units (code, unit_id, name, kind, path, committee, wave) SELECT * FROM unnest("
            "CAST(:code AS text[]), CAST(:id AS text[]), CAST(:name AS text[]), CAST(:kind AS text[]), "
            "CAST(:path AS text[]), CAST(:committee AS text[]), CAST(:wave AS integer[])) ON CONFLICT (code) DO NOTHING"),
            {"code": [d["code"] for d in created], "id": [d["unit_id"] for d in created],
             "name": [d["name"] for d in created], "kind": [d["kind"] for d in created],
             "path": [org_path(d["path"]) for d in created], "committee": [d["committee"] for d in created],
             "wave": [d.get("wave") for d in created]})


async def update_unit(db: AsyncConnection, d: dict[str, Any]) -> None:
    """A unit renamed, moved to another wave, closed (an OrgUnitUpdated's data)."""
    await db.execute(text("UPDATE units SET name = :n, wave = :w, closed = :x WHERE code = :c"),
                     {"n": d["name"], "w": d.get("wave"), "x": d["closed"], "c": d["code"]})


async def members(db: AsyncConnection, ids: list[Any]) -> dict[str, tuple[MemberState, int]]:
    """The members `ids` as held, with the version of the snapshot held."""
    rows = await db.execute(text("SELECT member_id::text, unit, status, eligible, reason, installed, version "
                                 "FROM members WHERE member_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})
    return {m: (MemberState(unit, status, eligible, reason, installed), version)
            for m, unit, status, eligible, reason, installed, version in rows}


async def installed(db: AsyncConnection, ids: list[Any]) -> set[str]:
    """Those of the members `ids` who have a pending or approved registration."""
    rows = await db.execute(text(
        "SELECT DISTINCT member_id FROM registrations WHERE member_id = ANY(CAST(:ids AS uuid[])) "
        "AND status IN ('pending', 'approved')"), {"ids": ids})
    return {str(r.member_id) for r in rows}


async def write_members(db: AsyncConnection, changed: dict[str, tuple[MemberState, int]]) -> None:
    if not changed:
        return
    ids = list(changed)
    states = [changed[i][0] for i in ids]
    await db.execute(text(
        "INSERT INTO members (member_id, unit, status, eligible, reason, installed, version) "
        "SELECT * FROM unnest(CAST(:id AS uuid[]), CAST(:unit AS text[]), CAST(:status AS text[]), "
        "CAST(:eligible AS boolean[]), CAST(:reason AS text[]), CAST(:installed AS boolean[]), "
        "CAST(:version AS integer[])) ON CONFLICT (member_id) DO UPDATE SET unit = EXCLUDED.unit, "
        "status = EXCLUDED.status, eligible = EXCLUDED.eligible, reason = EXCLUDED.reason, "
        "installed = EXCLUDED.installed, version = EXCLUDED.version"),
        {"id": ids, "unit": [s.unit for s in states], "status": [s.status for s in states],
         "eligible": [s.eligible for s in states], "reason": [s.reason for s in states],
         "installed": [s.installed for s in states], "version": [changed[i][1] for i in ids]})


async def registrations(db: AsyncConnection, reg_ids: list[str], account_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The registrations `reg_ids`, and those of the accounts `account_ids`, by id:
    {"account_id", "member_id", "state"}."""
    rows = await db.execute(text(
        "SELECT registration_id, account_id, member_id, unit, platform, status, activated, escalated FROM registrations "
        "WHERE registration_id = ANY(CAST(:r AS uuid[])) OR account_id = ANY(CAST(:a AS uuid[]))"),
        {"r": reg_ids, "a": account_ids})
    regs: dict[str, dict[str, Any]] = {}
    for r in rows:
        regs[str(r.registration_id)] = {"account_id": str(r.account_id) if r.account_id else None,
                                        "member_id": str(r.member_id) if r.member_id else None,
                                        "state": RegistrationState(r.unit, r.platform, r.status, r.activated,
                                                                   r.escalated)}
    return regs


async def write_registrations(db: AsyncConnection, regs: dict[str, dict[str, Any]], ids: list[str]) -> None:
    """Write the registrations `ids` of `regs` (an account or member once known stays)."""
    states = [regs[i]["state"] for i in ids]
    await db.execute(text(
        "INSERT INTO registrations (registration_id, account_id, member_id, unit, platform, status, activated, "
        "escalated) SELECT * FROM unnest(CAST(:r AS uuid[]), CAST(:a AS uuid[]), CAST(:m AS uuid[]), "
        "CAST(:u AS text[]), CAST(:p AS text[]), CAST(:s AS text[]), CAST(:act AS boolean[]), CAST(:esc AS boolean[])) "
        "ON CONFLICT (registration_id) DO UPDATE "
        "SET account_id = coalesce(EXCLUDED.account_id, registrations.account_id), "
        "member_id = coalesce(EXCLUDED.member_id, registrations.member_id), unit = EXCLUDED.unit, "
        "platform = EXCLUDED.platform, status = EXCLUDED.status, activated = EXCLUDED.activated, "
        "escalated = EXCLUDED.escalated"),
        {"r": ids, "a": [regs[i]["account_id"] for i in ids], "m": [regs[i]["member_id"] for i in ids],
         "u": [s.unit for s in states], "p": [s.platform for s in states], "s": [s.status for s in states],
         "act": [s.activated for s in states], "esc": [s.escalated for s in states]})


async def readers(db: AsyncConnection, accounts: list[str]) -> dict[str, tuple[date, str]]:
    """Each of the readers `accounts` known: (the day of their last read, its unit)."""
    return {r.account_id: (r.last_day, r.unit) for r in await db.execute(text(
        "SELECT account_id, unit, last_day FROM readers WHERE account_id = ANY(:a)"), {"a": accounts})}


async def write_readers(db: AsyncConnection, moved: list[str], last_read: dict[str, tuple[date, str]]) -> None:
    if moved:
        await db.execute(text(
            "INSERT INTO readers (account_id, unit, last_day) SELECT * FROM unnest(CAST(:a AS text[]), "
            "CAST(:u AS text[]), CAST(:d AS date[])) ON CONFLICT (account_id) DO UPDATE "
            "SET unit = EXCLUDED.unit, last_day = EXCLUDED.last_day"),
            {"a": moved, "u": [last_read[a][1] for a in moved], "d": [last_read[a][0] for a in moved]})
