"""The live projections, a fetched batch at a time: the states the batch's
events concern are read in one query, the events applied to them in memory
in stream order (domain.py), and the new states and the counter changes of
the whole batch written back in a few statements. The kit's consumer runs
this in one transaction with the batch's inbox rows, so a redelivered event
is never applied twice; should the batch fail, it applies the events again
one at a time.

Events about one member arrive on two streams (members and identity) through
two consumers; transaction-scoped advisory locks on the batch's members
serialise them, so "has this member installed?" is decided on committed data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics import domain
from services.metrics.domain import Deltas, MemberState, RegistrationState
from sotay.db import org_path

CITY = "city"
Touched = Callable[[str], None]  # told each unit whose own counters changed


def _event(envelope: dict[str, Any]) -> str:
    return envelope["type"].split(".")[2]


async def _lock_members(db: AsyncConnection, member_ids: Iterable[Any]) -> None:
    keys = sorted({int.from_bytes(hashlib.sha256(f"metrics-member:{m}".encode()).digest()[:8], "big", signed=True)
                   for m in member_ids if m is not None})
    if keys:  # in one order everywhere, so two consumers never wait on each other in a circle
        await db.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:k AS bigint[])) AS k ORDER BY k"),
                         {"k": keys})


async def write_deltas(db: AsyncConnection, deltas: Deltas, touched: Touched) -> None:
    units = sorted(u for u, c in deltas.counts.items() if any(c.values()))
    if units:
        await db.execute(text("INSERT INTO unit_counts (unit) SELECT unnest(CAST(:u AS text[])) ON CONFLICT DO NOTHING"),
                         {"u": units})
        columns = domain.COUNTERS
        params: dict[str, Any] = {"u": units}
        for c in columns:
            params[c] = [deltas.counts[u].get(c, 0) for u in units]
        await db.execute(text(
            f"UPDATE unit_counts t SET {', '.join(f'{c} = t.{c} + d.{c}' for c in columns)} "
            f"FROM (SELECT unnest(CAST(:u AS text[])) AS unit, "
            + ", ".join(f"unnest(CAST(:{c} AS integer[])) AS {c}" for c in columns)
            + ") d WHERE t.unit = d.unit"), params)
        for unit in units:
            touched(unit)
    reasons = [(u, r, n) for (u, r), n in deltas.reasons.items() if n and u]
    if reasons:
        params = {"u": [u for u, _, _ in reasons], "r": [r for _, r, _ in reasons], "n": [n for _, _, n in reasons]}
        await db.execute(text(
            "INSERT INTO unit_ineligible (unit, reason, n) SELECT unnest(CAST(:u AS text[])), "
            "unnest(CAST(:r AS text[])), 0 ON CONFLICT DO NOTHING"), params)
        await db.execute(text(
            "UPDATE unit_ineligible t SET n = t.n + d.n FROM (SELECT unnest(CAST(:u AS text[])) AS unit, "
            "unnest(CAST(:r AS text[])) AS reason, unnest(CAST(:n AS integer[])) AS n) d "
            "WHERE t.unit = d.unit AND t.reason = d.reason"), params)
        for unit, _, _ in reasons:
            touched(unit)


async def add_counts(db: AsyncConnection, changes: dict[str, dict[str, int]], touched: Touched) -> None:
    """Counters moved outside the events (training sessions recorded here)."""
    deltas = Deltas()
    deltas.add(changes)
    await write_deltas(db, deltas, touched)


# --- members and the org tree (SOTAY_MEMBERS) ----------------------------------------------------


async def _members(db: AsyncConnection, ids: list[Any]) -> dict[str, tuple[MemberState, int]]:
    rows = await db.execute(text("SELECT member_id, unit, status, eligible, reason, installed, version FROM members "
                                 "WHERE member_id = ANY(CAST(:ids AS uuid[]))"), {"ids": ids})
    return {str(r.member_id): (MemberState(r.unit, r.status, r.eligible, r.reason, r.installed), r.version)
            for r in rows}


async def _installed(db: AsyncConnection, ids: list[Any]) -> set[str]:
    rows = await db.execute(text(
        "SELECT DISTINCT member_id FROM registrations WHERE member_id = ANY(CAST(:ids AS uuid[])) "
        "AND status IN ('pending', 'approved')"), {"ids": ids})
    return {str(r.member_id) for r in rows}


async def _write_members(db: AsyncConnection, changed: dict[str, tuple[MemberState, int]]) -> None:
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


async def apply_registry_batch(db: AsyncConnection, envelopes: list[dict[str, Any]], touched: Touched) -> None:
    created = [e["data"] for e in envelopes if _event(e) == "OrgUnitCreated"]
    if created:
        await db.execute(text(
            "INSERT INTO units (code, unit_id, name, kind, path, committee, wave) SELECT * FROM unnest("
            "CAST(:code AS text[]), CAST(:id AS text[]), CAST(:name AS text[]), CAST(:kind AS text[]), "
            "CAST(:path AS text[]), CAST(:committee AS text[]), CAST(:wave AS integer[])) ON CONFLICT (code) DO NOTHING"),
            {"code": [d["code"] for d in created], "id": [d["unit_id"] for d in created],
             "name": [d["name"] for d in created], "kind": [d["kind"] for d in created],
             "path": [org_path(d["path"]) for d in created], "committee": [d["committee"] for d in created],
             "wave": [d.get("wave") for d in created]})
        for d in created:
            touched(d["code"])
    for e in envelopes:
        if _event(e) == "OrgUnitUpdated":
            d = e["data"]
            await db.execute(text("UPDATE units SET name = :n, wave = :w, closed = :x WHERE code = :c"),
                             {"n": d["name"], "w": d.get("wave"), "x": d["closed"], "c": d["code"]})
            touched(d["code"])

    member_events = [e for e in envelopes if _event(e).startswith("Member")]
    if not member_events:
        return
    ids = sorted({e["data"]["member_id"] for e in member_events})
    await _lock_members(db, ids)
    states, installed = await _members(db, ids), await _installed(db, ids)
    deltas, changed = Deltas(), {}
    for e in member_events:  # in stream order
        d, version = e["data"], e.get("sequence") or 0
        old, held = states.get(d["member_id"], (None, -1))
        if version <= held:
            continue  # an older snapshot than the one we hold
        new = domain.member_from_snapshot(d, d["member_id"] in installed)
        deltas.member(old, new)
        states[d["member_id"]] = changed[d["member_id"]] = (new, version)
    await _write_members(db, changed)
    await write_deltas(db, deltas, touched)


# --- registrations and accounts (SOTAY_IDENTITY) ---------------------------------------------------


async def apply_accounts_batch(db: AsyncConnection, envelopes: list[dict[str, Any]], touched: Touched) -> None:
    await _lock_members(db, [e["data"].get("member_id") for e in envelopes])
    reg_ids = sorted({e["data"]["registration_id"] for e in envelopes if "registration_id" in e["data"]})
    account_ids = sorted({e["data"]["account_id"] for e in envelopes if e["data"].get("account_id")})
    rows = await db.execute(text(
        "SELECT registration_id, account_id, member_id, unit, platform, status, activated FROM registrations "
        "WHERE registration_id = ANY(CAST(:r AS uuid[])) OR account_id = ANY(CAST(:a AS uuid[]))"),
        {"r": reg_ids, "a": account_ids})
    regs: dict[str, dict[str, Any]] = {}
    for r in rows:
        regs[str(r.registration_id)] = {"account_id": str(r.account_id) if r.account_id else None,
                                        "member_id": str(r.member_id) if r.member_id else None,
                                        "state": RegistrationState(r.unit, r.platform, r.status, r.activated)}
    by_account = {reg["account_id"]: rid for rid, reg in regs.items() if reg["account_id"]}

    deltas, changed, members_to_check = Deltas(), set(), set()
    for e in envelopes:  # in stream order
        name, d = _event(e), e["data"]
        rid = d.get("registration_id") or by_account.get(d.get("account_id"))
        if rid is None and name not in ("RegistrationSubmitted", "AccountApproved", "AccountRejected"):
            continue  # an account with no registration: a staff account
        reg = regs.get(rid) if rid else None
        old = reg["state"] if reg else None
        new = domain.registration_after(name, d, old, CITY)
        if new is None:
            continue
        if reg is None:
            reg = regs[rid] = {"account_id": None, "member_id": d.get("member_id"), "state": None}
        if d.get("account_id") and name == "AccountApproved":
            reg["account_id"] = d["account_id"]
            by_account[d["account_id"]] = rid
        reg["member_id"] = reg["member_id"] or d.get("member_id")
        reg["state"] = new
        deltas.registration(old, new)
        changed.add(rid)
        if reg["member_id"]:
            members_to_check.add(reg["member_id"])

    if changed:
        ids = sorted(changed)
        states = [regs[i]["state"] for i in ids]
        await db.execute(text(
            "INSERT INTO registrations (registration_id, account_id, member_id, unit, platform, status, activated) "
            "SELECT * FROM unnest(CAST(:r AS uuid[]), CAST(:a AS uuid[]), CAST(:m AS uuid[]), CAST(:u AS text[]), "
            "CAST(:p AS text[]), CAST(:s AS text[]), CAST(:act AS boolean[])) ON CONFLICT (registration_id) DO UPDATE "
            "SET account_id = coalesce(EXCLUDED.account_id, registrations.account_id), "
            "member_id = coalesce(EXCLUDED.member_id, registrations.member_id), unit = EXCLUDED.unit, "
            "platform = EXCLUDED.platform, status = EXCLUDED.status, activated = EXCLUDED.activated"),
            {"r": ids, "a": [regs[i]["account_id"] for i in ids], "m": [regs[i]["member_id"] for i in ids],
             "u": [s.unit for s in states], "p": [s.platform for s in states], "s": [s.status for s in states],
             "act": [s.activated for s in states]})
    if members_to_check:
        # Whether those members count as installed, now that their registrations moved.
        mids = sorted(members_to_check)
        members, installed = await _members(db, mids), await _installed(db, mids)
        flipped = {}
        for mid, (state, version) in members.items():
            now = mid in installed
            if now != state.installed:
                new = MemberState(state.unit, state.status, state.eligible, state.reason, now)
                deltas.member(state, new)
                flipped[mid] = (new, version)
        await _write_members(db, flipped)
    await write_deltas(db, deltas, touched)


# --- reading and writing (SOTAY_CONTENT) --------------------------------------------------------------


async def apply_content_batch(db: AsyncConnection, envelopes: list[dict[str, Any]], touched: Touched) -> None:
    deltas = Deltas()
    last_read: dict[str, tuple[date, str]] = {}
    for e in envelopes:
        name, d = _event(e), e["data"]
        if name == "ArticleRead" and d.get("unit"):  # a staff reader has no unit of their own
            day = date.fromisoformat(d["day"])
            if d["account_id"] not in last_read or last_read[d["account_id"]][0] <= day:
                last_read[d["account_id"]] = (day, d["unit"])
        elif name == "ArticlePublished":
            deltas.add({d["author_unit"]: {"articles_published": 1}})
        elif name == "FeedbackPosted" and d.get("unit"):
            deltas.add({d["unit"]: {"feedback_posted": 1}})
    if last_read:
        accounts = sorted(last_read)
        await db.execute(text(
            "INSERT INTO readers (account_id, unit, last_day) SELECT * FROM unnest(CAST(:a AS text[]), "
            "CAST(:u AS text[]), CAST(:d AS date[])) ON CONFLICT (account_id) DO UPDATE SET unit = EXCLUDED.unit, "
            "last_day = greatest(readers.last_day, EXCLUDED.last_day)"),
            {"a": accounts, "u": [last_read[a][1] for a in accounts], "d": [last_read[a][0] for a in accounts]})
        for _, unit in last_read.values():
            touched(unit)
    await write_deltas(db, deltas, touched)
