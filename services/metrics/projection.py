"""The live projections: each event updates the state it concerns and moves
the counters by the change in that state's contribution (domain.py). The
kit's consumers apply these in a transaction with the event's inbox row, so
a redelivered event is never applied twice.

Events about one member arrive on two streams (members and identity) through
two consumers; a transaction-scoped advisory lock on the member serialises
them, so "has this member installed?" is decided on committed data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.metrics import domain
from services.metrics.domain import MemberState, RegistrationState
from sotay.consumer import PermanentError
from sotay.db import org_path

CITY = "city"
Touched = Callable[[str], None]  # told each unit whose own counters changed


def _lock_key(member_id: Any) -> int:
    return int.from_bytes(hashlib.sha256(f"metrics-member:{member_id}".encode()).digest()[:8], "big", signed=True)


async def _lock_member(db: AsyncConnection, member_id: Any) -> None:
    if member_id is not None:
        await db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(member_id)})


async def add_counts(db: AsyncConnection, changes: dict[str, dict[str, int]], touched: Touched) -> None:
    for unit, delta in changes.items():
        if not delta:
            continue
        columns = sorted(delta)
        if any(c not in domain.COUNTERS for c in columns):
            raise PermanentError(f"unknown counters {columns}")
        # An UPDATE, not an upsert: PostgreSQL checks the proposed row of an INSERT (a
        # negative delta) against the CHECKs before it looks for the conflicting one.
        update = text(f"UPDATE unit_counts SET {', '.join(f'{c} = {c} + :{c}' for c in columns)} WHERE unit = :unit")
        if (await db.execute(update, {"unit": unit, **delta})).rowcount == 0:
            await db.execute(text("INSERT INTO unit_counts (unit) VALUES (:unit) ON CONFLICT DO NOTHING"),
                             {"unit": unit})
            await db.execute(update, {"unit": unit, **delta})
        touched(unit)


async def _add_reasons(db: AsyncConnection, unit: str | None, reasons: dict[str, int]) -> None:
    for reason, n in reasons.items():
        if n and unit:
            await db.execute(text("INSERT INTO unit_ineligible (unit, reason, n) VALUES (:u, :r, 0) "
                                  "ON CONFLICT DO NOTHING"), {"u": unit, "r": reason})
            await db.execute(text("UPDATE unit_ineligible SET n = n + :n WHERE unit = :u AND reason = :r"),
                             {"u": unit, "r": reason, "n": n})


# --- the org tree ------------------------------------------------------------------------------


async def apply_unit_created(db: AsyncConnection, envelope: dict[str, Any], touched: Touched) -> None:
    d = envelope["data"]
    await db.execute(text(
        "INSERT INTO units (code, unit_id, name, kind, path, committee, wave) VALUES (:c, :id, :n, :k, :p, :m, :w) "
        "ON CONFLICT (code) DO NOTHING"),
        {"c": d["code"], "id": d["unit_id"], "n": d["name"], "k": d["kind"], "p": org_path(d["path"]),
         "m": d["committee"], "w": d.get("wave")})
    touched(d["code"])


async def apply_unit_updated(db: AsyncConnection, envelope: dict[str, Any], touched: Touched) -> None:
    d = envelope["data"]
    await db.execute(text("UPDATE units SET name = :n, wave = :w, closed = :x WHERE code = :c"),
                     {"n": d["name"], "w": d.get("wave"), "x": d["closed"], "c": d["code"]})
    touched(d["code"])


# --- members -----------------------------------------------------------------------------------------


async def _member(db: AsyncConnection, member_id: Any) -> tuple[MemberState | None, int]:
    row = (await db.execute(text("SELECT unit, status, eligible, reason, installed, version FROM members "
                                 "WHERE member_id = :m"), {"m": member_id})).first()
    if row is None:
        return None, -1
    return MemberState(row.unit, row.status, row.eligible, row.reason, row.installed), row.version


async def _installed(db: AsyncConnection, member_id: Any) -> bool:
    return (await db.execute(text(
        "SELECT EXISTS (SELECT 1 FROM registrations WHERE member_id = :m AND status IN ('pending', 'approved'))"),
        {"m": member_id})).scalar_one()


async def _set_member(db: AsyncConnection, member_id: Any, old: MemberState | None, new: MemberState,
                      version: int, touched: Touched) -> None:
    await db.execute(text(
        "INSERT INTO members (member_id, unit, status, eligible, reason, installed, version) "
        "VALUES (:m, :u, :s, :e, :r, :i, :v) ON CONFLICT (member_id) DO UPDATE SET unit = :u, status = :s, "
        "eligible = :e, reason = :r, installed = :i, version = :v"),
        {"m": member_id, "u": new.unit, "s": new.status, "e": new.eligible, "r": new.reason, "i": new.installed,
         "v": version})
    old_counts, old_reasons = domain.member_contribution(old)
    new_counts, new_reasons = domain.member_contribution(new)
    await add_counts(db, domain.moves(old.unit if old else None, old_counts, new.unit, new_counts), touched)
    for unit, change in domain.moves(old.unit if old else None, old_reasons, new.unit, new_reasons).items():
        await _add_reasons(db, unit, change)


async def apply_member_event(db: AsyncConnection, envelope: dict[str, Any], touched: Touched) -> None:
    """Every member event carries the registry's whole snapshot; an older one than we hold is dropped."""
    d, version = envelope["data"], envelope.get("sequence") or 0
    await _lock_member(db, d["member_id"])
    old, held = await _member(db, d["member_id"])
    if version <= held:
        return
    new = MemberState(unit=d["unit"], status=d["status"], eligible=bool(d["eligible"]),
                      reason=(d.get("ineligible_reason") or None) if not d["eligible"] else None,
                      installed=await _installed(db, d["member_id"]))
    await _set_member(db, d["member_id"], old, new, version, touched)


async def _refresh_installed(db: AsyncConnection, member_id: Any, touched: Touched) -> None:
    """A registration of the member changed: whether they count as installed may have too."""
    old, version = await _member(db, member_id)
    if old is None:
        return  # the member's own events have not arrived yet; they will read registrations then
    installed = await _installed(db, member_id)
    if installed != old.installed:
        await _set_member(db, member_id, old, MemberState(old.unit, old.status, old.eligible, old.reason, installed),
                          version, touched)


# --- registrations and accounts (identity) ----------------------------------------------------------


async def _registration(db: AsyncConnection, *, registration_id: Any = None,
                        account_id: Any = None) -> tuple[Any, Any, RegistrationState | None]:
    where, key = ("registration_id = :k", registration_id) if registration_id else ("account_id = :k", account_id)
    row = (await db.execute(text(f"SELECT registration_id, member_id, unit, platform, status, activated "
                                 f"FROM registrations WHERE {where}"), {"k": key})).first()
    if row is None:
        return None, None, None
    return row.registration_id, row.member_id, RegistrationState(row.unit, row.platform, row.status, row.activated)


async def _set_registration(db: AsyncConnection, registration_id: Any, member_id: Any, account_id: Any,
                            old: RegistrationState | None, new: RegistrationState, touched: Touched) -> None:
    await db.execute(text(
        "INSERT INTO registrations (registration_id, account_id, member_id, unit, platform, status, activated) "
        "VALUES (:r, :a, :m, :u, :p, :s, :act) ON CONFLICT (registration_id) DO UPDATE SET "
        "account_id = coalesce(:a, registrations.account_id), member_id = coalesce(:m, registrations.member_id), "
        "unit = :u, platform = :p, status = :s, activated = :act"),
        {"r": registration_id, "a": account_id, "m": member_id, "u": new.unit, "p": new.platform, "s": new.status,
         "act": new.activated})
    await add_counts(db, domain.moves(old.unit if old else None, domain.registration_contribution(old), new.unit,
                                      domain.registration_contribution(new)), touched)
    if member_id is not None:
        await _refresh_installed(db, member_id, touched)


async def apply_identity_event(db: AsyncConnection, envelope: dict[str, Any], touched: Touched) -> None:
    name, d = envelope["type"].split(".")[2], envelope["data"]
    await _lock_member(db, d.get("member_id"))
    if name == "RegistrationSubmitted":
        reg_id, member_id, old = await _registration(db, registration_id=d["registration_id"])
        if old is not None:
            return  # a registration is submitted once; anything later already moved it on
        new = RegistrationState(d.get("unit") or CITY, d["platform"], "pending", False)
        await _set_registration(db, d["registration_id"], d.get("member_id"), None, None, new, touched)
        return
    if name in ("AccountApproved", "AccountRejected"):
        reg_id, member_id, old = await _registration(db, registration_id=d["registration_id"])
        base = old or RegistrationState(d.get("unit") or CITY, d["platform"], "pending", False)
        if old is not None and old.status != "pending":
            return  # decided already (a replay)
        status = "approved" if name == "AccountApproved" else "rejected"
        new = RegistrationState(d.get("unit") or base.unit, base.platform, status, False)
        await _set_registration(db, d["registration_id"], d.get("member_id"), d.get("account_id"), old, new,
                                touched)
        return
    reg_id, member_id, old = await _registration(db, account_id=d["account_id"])
    if old is None:
        return  # a staff account (made from the command line) is no member's installation
    if name == "AccountActivated":
        new = RegistrationState(old.unit, old.platform, old.status, True)
    elif name == "AccountDisabled":
        new = RegistrationState(old.unit, old.platform, "disabled", old.activated)
    elif name == "AccountMoved":
        new = RegistrationState(d["unit"], old.platform, old.status, old.activated)
    else:
        return
    if new != old:
        await _set_registration(db, reg_id, member_id, None, old, new, touched)


# --- content -------------------------------------------------------------------------------------------


async def apply_content_event(db: AsyncConnection, envelope: dict[str, Any], touched: Touched) -> None:
    name, d = envelope["type"].split(".")[2], envelope["data"]
    if name == "ArticleRead":
        if not d.get("unit"):
            return  # a staff reader with no unit of their own
        await db.execute(text(
            "INSERT INTO readers (account_id, unit, last_day) VALUES (:a, :u, :d) ON CONFLICT (account_id) "
            "DO UPDATE SET unit = :u, last_day = greatest(readers.last_day, :d)"),
            {"a": d["account_id"], "u": d["unit"], "d": date.fromisoformat(d["day"])})
        touched(d["unit"])
    elif name == "ArticlePublished":
        await add_counts(db, {d["author_unit"]: {"articles_published": 1}}, touched)
    elif name == "FeedbackPosted" and d.get("unit"):
        await add_counts(db, {d["unit"]: {"feedback_posted": 1}}, touched)
