"""SQL for identity's tables (SQLAlchemy Core on the identity schema). The statements of a
registration and a password sign-in are `Statement`s: they run on asyncpg's own connection in a
driver_transaction (kit/db.py) on those hot paths, and through SQLAlchemy everywhere else."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity.domain import RegistryEntry
from sotay.kit.db import Db, Statement, Where
from sotay.kit.scope import OrgTree

# The org tree as identity keeps it (the registry replica's units): where a role reaches.
ORG = OrgTree("registry_units")

REGISTRATION_COLUMNS = ("g.id, g.party_card_no, g.full_name, g.date_of_birth, g.phone, g.platform, g.match_result, "
                        "g.match_reasons, g.member_id, g.unit, g.unit_path, g.committee, g.status, g.reason, "
                        "g.decided_by, g.decided_at, g.submitted_at, g.escalated_at, g.escalated_to")
# What the approver compares a registration with: the registry's phone, by its last three digits
# (the replica holds the rest only as keyed hashes: the matching's verdict says same or not).
REGISTRY_COLUMNS = "r.phone_tail AS registry_phone_tail, r.member_id IS NOT NULL AS registry_found"
_ENTRY = ("r.member_id, r.card_hash, r.name_hash, r.dob_hash, r.unit, r.unit_path, r.committee, r.status, "
          "r.eligible, r.phone_hash")


async def registry_entry(db: AsyncConnection, card_hash: str) -> RegistryEntry | None:
    row = (await db.execute(text(f"SELECT {_ENTRY} FROM registry_members r WHERE r.card_hash = :h"),
                            {"h": card_hash})).mappings().first()
    return RegistryEntry(**{**row, "member_id": str(row["member_id"])}) if row else None


# What matching a registration needs, in one round trip: $1 the card, $2 its keyed hash.
REGISTRATION_CONTEXT = Statement(
    f"SELECT {_ENTRY}, "
    "EXISTS (SELECT 1 FROM accounts WHERE party_card_no = c.card) AS has_account, "
    "EXISTS (SELECT 1 FROM registrations WHERE party_card_no = c.card AND status = 'pending' "
    "AND match_result = 'matched') AS has_pending "
    "FROM (SELECT $1::text AS card) c LEFT JOIN registry_members r ON r.card_hash = $2")


async def registration_context(db: Db, card_no: str, card_hash: str) -> tuple[RegistryEntry | None, bool, bool]:
    """What matching a registration needs, in one round trip: the registry entry for the
    card (by its keyed hash), whether it has an account, whether a matching registration of it
    is pending."""
    entry = dict(await REGISTRATION_CONTEXT.row(db, card_no, card_hash))
    has_account, has_pending = entry.pop("has_account"), entry.pop("has_pending")
    found = entry["member_id"] is not None
    return (RegistryEntry(**{**entry, "member_id": str(entry["member_id"])}) if found else None,
            has_account, has_pending)


async def card_has_account(db: AsyncConnection, card_no: str) -> bool:
    return (await db.execute(text("SELECT EXISTS (SELECT 1 FROM accounts WHERE party_card_no = :c)"),
                             {"c": card_no})).scalar_one()


async def unit_path(db: AsyncConnection, code: str) -> str | None:
    return (await db.execute(text("SELECT path FROM registry_units WHERE code = :c"), {"c": code})).scalar()


INSERT_REGISTRATION = Statement(
    "INSERT INTO registrations (id, party_card_no, full_name, date_of_birth, phone, password_hash, platform, "
    "match_result, match_reasons, member_id, unit, unit_path, committee, status) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13, 'pending')")


async def insert_registration(db: Db, reg: dict[str, Any]) -> None:
    await INSERT_REGISTRATION.run(
        db, reg["id"], reg["party_card_no"], reg["full_name"], reg["date_of_birth"], reg["phone"],
        reg["password_hash"], reg["platform"], reg["match_result"], orjson.dumps(reg["match_reasons"]).decode(),
        reg["member_id"], reg["unit"], reg["unit_path"], reg["committee"])


async def registration(db: AsyncConnection, reg_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    sql = "SELECT * FROM registrations WHERE id = :id" + (" FOR UPDATE" if lock else "")
    row = (await db.execute(text(sql), {"id": reg_id})).mappings().first()
    return dict(row) if row else None


async def registration_for_approver(db: AsyncConnection, reg_id: Any) -> dict[str, Any] | None:
    row = (await db.execute(text(
        f"SELECT {REGISTRATION_COLUMNS}, {REGISTRY_COLUMNS}, "
        "EXISTS (SELECT 1 FROM accounts a WHERE a.party_card_no = g.party_card_no) AS has_account "
        "FROM registrations g LEFT JOIN registry_members r ON r.member_id = g.member_id WHERE g.id = :id"),
        {"id": reg_id})).mappings().first()
    return dict(row) if row else None


async def queue(db: AsyncConnection, *, scopes: list[str], status: str | None, match: str | None,
                older_than_days: int | None, overdue_days: int, limit: int,
                after: tuple[Any, str] | None, unit_path: str | None = None,
                newer_than_days: int | None = None, escalated: bool | None = None) -> list[dict[str, Any]]:
    """A page of registrations in `scopes`, oldest first, with the registry's details beside
    each and whether its card has an account now (`has_account`). `unit_path` narrows the
    page to one unit's subtree (a cell, say); the ages count whole days since submission."""
    where = (Where().within("g.unit_path", scopes)
             .add("g.unit_path LIKE :unit_subtree", unit_subtree=unit_path + "%" if unit_path else None)
             .add("g.status = :status", status=status or None)
             .add("g.match_result = :match", match=match or None)
             .add("g.submitted_at < now() - make_interval(days => :older)", older=older_than_days)
             .add("g.submitted_at >= now() - make_interval(days => :newer)", newer=newer_than_days)
             .add("(g.escalated_at IS NOT NULL) = :escalated", escalated=escalated)
             .after("(g.submitted_at, g.id)", after, "timestamptz", "uuid"))
    rows = (await db.execute(text(
        f"SELECT {REGISTRATION_COLUMNS}, {REGISTRY_COLUMNS}, g.status = 'pending' AND g.submitted_at < now() - "
        f"make_interval(days => :overdue) AS overdue, "
        f"EXISTS (SELECT 1 FROM accounts a WHERE a.party_card_no = g.party_card_no) AS has_account "
        f"FROM registrations g "
        f"LEFT JOIN registry_members r ON r.member_id = g.member_id "
        f"WHERE {where} ORDER BY g.submitted_at, g.id LIMIT :limit"),
        where.params | {"limit": limit, "overdue": overdue_days})).mappings()
    return [dict(r) for r in rows]


async def decide(db: AsyncConnection, reg_id: Any, *, status: str, actor: str, reason: str | None) -> None:
    await db.execute(text(
        "UPDATE registrations SET status = :s, decided_by = :a, decided_at = now(), reason = :r WHERE id = :id"),
        {"s": status, "a": actor, "r": reason, "id": reg_id})


async def insert_account(db: AsyncConnection, account: dict[str, Any]) -> None:
    await db.execute(text(
        "INSERT INTO accounts (id, member_id, party_card_no, phone, password_hash, platform, unit, unit_path, "
        "committee, registration_id) VALUES (:id, :member_id, :party_card_no, :phone, :password_hash, :platform, "
        ":unit, :unit_path, :committee, :registration_id)"), account)


async def grant(db: AsyncConnection, account_id: Any, role: str, unit: str, by: str) -> None:
    await db.execute(text(
        "INSERT INTO grants (account_id, role, unit, granted_by) VALUES (:a, :r, :u, :b) ON CONFLICT DO NOTHING"),
        {"a": account_id, "r": role, "u": unit, "b": by})


async def revoke(db: AsyncConnection, account_id: Any, role: str, unit: str) -> bool:
    """Take a role away; say whether the account had it."""
    return (await db.execute(text(
        "DELETE FROM grants WHERE account_id = :a AND role = :r AND unit = :u RETURNING 1"),
        {"a": account_id, "r": role, "u": unit})).first() is not None


async def disable_account(db: AsyncConnection, account_id: Any, reason: str) -> None:
    """The account cannot sign in, and none of its refresh tokens works any more."""
    await db.execute(text("UPDATE accounts SET status = 'disabled', disabled_reason = :r WHERE id = :id"),
                     {"r": reason, "id": account_id})
    await db.execute(text("UPDATE refresh_tokens SET revoked_at = now() WHERE account_id = :a "
                          "AND revoked_at IS NULL"), {"a": account_id})


GRANTS_OF = Statement("SELECT role, unit FROM grants WHERE account_id = $1 ORDER BY role, unit")


async def grants_of(db: Db, account_id: Any) -> list[tuple[str, str]]:
    return [(r["role"], r["unit"]) for r in await GRANTS_OF.rows(db, account_id)]


ACCOUNT_FOR_LOGIN = Statement("SELECT * FROM accounts WHERE party_card_no = $1 OR phone = $2 "
                              "ORDER BY party_card_no = $1 DESC, created_at LIMIT 1")


async def account_for_login(db: Db, card_no: str | None, phone: str | None) -> dict[str, Any] | None:
    row = await ACCOUNT_FOR_LOGIN.row(db, card_no, phone)
    return dict(row) if row else None


async def recent_registrations(db: AsyncConnection, card_no: str) -> list[dict[str, Any]]:
    rows = (await db.execute(text(
        "SELECT * FROM registrations WHERE party_card_no = :c ORDER BY submitted_at DESC LIMIT 3"),
        {"c": card_no})).mappings()
    return [dict(r) for r in rows]


async def account(db: AsyncConnection, account_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    sql = "SELECT * FROM accounts WHERE id = :id" + (" FOR UPDATE" if lock else "")
    row = (await db.execute(text(sql), {"id": account_id})).mappings().first()
    return dict(row) if row else None


async def account_of_member(db: AsyncConnection, member_id: Any) -> dict[str, Any] | None:
    row = (await db.execute(text("SELECT * FROM accounts WHERE member_id = :m FOR UPDATE"),
                            {"m": member_id})).mappings().first()
    return dict(row) if row else None


async def lock_members_accounts(db: AsyncConnection, member_ids: list[Any]) -> set[str]:
    """Which of the members have an account, their accounts locked (in member order)."""
    return {str(m) for m in (await db.execute(text(
        "SELECT member_id FROM accounts WHERE member_id = ANY(CAST(:m AS uuid[])) ORDER BY member_id FOR UPDATE"),
        {"m": member_ids})).scalars()}


ACTIVATE = Statement("UPDATE accounts SET activated_at = now() WHERE id = $1")


async def activate(db: Db, account_id: Any) -> None:
    """The account's first sign-in."""
    await ACTIVATE.run(db, account_id)


async def move_account(db: AsyncConnection, account_id: Any, *, unit: str, unit_path: str, committee: str) -> None:
    """The account follows its member to another unit, and so does its member role."""
    await db.execute(text("UPDATE accounts SET unit = :u, unit_path = :p, committee = :c WHERE id = :id"),
                     {"u": unit, "p": unit_path, "c": committee, "id": account_id})
    await db.execute(text("UPDATE grants SET unit = :u WHERE account_id = :a AND role = 'member'"),
                     {"u": unit, "a": account_id})


async def audit(db: AsyncConnection, actor: str, action: str, target: str, reason: str | None = None,
                details: dict[str, Any] | None = None) -> None:
    await db.execute(text(
        "INSERT INTO audit_log (actor, action, target, reason, details) VALUES (:a, :act, :t, :r, CAST(:d AS jsonb))"),
        {"a": actor, "act": action, "t": target, "r": reason, "d": orjson.dumps(details or {}).decode()})


# --- throttles (sliding windows) ---------------------------------------------------------------


WINDOW_AGES = Statement("SELECT key, ARRAY(SELECT extract(epoch FROM now() - t)::float8 FROM unnest(at) t) AS ages "
                        "FROM throttle_windows WHERE key = ANY($1::text[])")
RECORD_EVENTS = Statement(
    "INSERT INTO throttle_windows (key, at) SELECT k, ARRAY[now()] FROM unnest($1::text[]) k "
    "ON CONFLICT (key) DO UPDATE SET at = ARRAY(SELECT t FROM unnest(throttle_windows.at || now()) t "
    "WHERE t > now() - make_interval(secs => $2) ORDER BY t DESC LIMIT $3)")
CLEAR_WINDOWS = Statement("DELETE FROM throttle_windows WHERE key = ANY($1::text[])")


async def window_ages(db: Db, keys: list[str]) -> dict[str, list[float]]:
    """For each key with events on record: how many seconds ago each happened."""
    return {r["key"]: list(r["ages"]) for r in await WINDOW_AGES.rows(db, keys)}


async def record_events(db: Db, keys: list[str], *, keep: int, horizon_s: float) -> None:
    """Add an event now under each key, keeping the newest `keep` within `horizon_s`."""
    await RECORD_EVENTS.run(db, keys, float(horizon_s), keep)


async def clear_windows(db: Db, keys: list[str]) -> None:
    await CLEAR_WINDOWS.run(db, keys)


async def forget_old_windows(db: AsyncConnection, horizon_s: float) -> None:
    await db.execute(text("DELETE FROM throttle_windows WHERE at[1] < now() - make_interval(secs => :h)"),
                     {"h": horizon_s})


KNOWN_ADDRESS = Statement("SELECT last_ok_at FROM known_addresses WHERE account_id = $1 AND address_hash = $2 "
                          "AND last_ok_at > now() - make_interval(days => $3)")
REMEMBER_ADDRESS = Statement("INSERT INTO known_addresses (account_id, address_hash) VALUES ($1, $2) "
                             "ON CONFLICT (account_id, address_hash) DO UPDATE SET last_ok_at = now()")


async def known_address(db: Db, account_id: Any, address_hash: str, days: int) -> datetime | None:
    """When the account last signed in from this address, if within `days`."""
    return await KNOWN_ADDRESS.value(db, account_id, address_hash, days)


async def remember_address(db: Db, account_id: Any, address_hash: str) -> None:
    await REMEMBER_ADDRESS.run(db, account_id, address_hash)


# --- refresh tokens (kept by their digest only) ------------------------------------------------


INSERT_REFRESH_TOKEN = Statement(
    "INSERT INTO refresh_tokens (token_hash, family_id, account_id, expires_at) VALUES ($1, $2, $3, $4)")


async def insert_refresh_token(db: Db, *, digest: str, family_id: Any, account_id: Any,
                               expires_at: datetime) -> None:
    await INSERT_REFRESH_TOKEN.run(db, digest, family_id, account_id, expires_at)


async def refresh_token(db: AsyncConnection, digest: str) -> dict[str, Any] | None:
    """The refresh token with this digest, locked for the exchange."""
    row = (await db.execute(text("SELECT * FROM refresh_tokens WHERE token_hash = :h FOR UPDATE"),
                            {"h": digest})).mappings().first()
    return dict(row) if row else None


async def revoke_family(db: AsyncConnection, family_id: Any) -> None:
    await db.execute(text("UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) "
                          "WHERE family_id = :f"), {"f": family_id})


async def use_refresh_token(db: AsyncConnection, digest: str) -> None:
    await db.execute(text("UPDATE refresh_tokens SET used_at = now() WHERE token_hash = :h"), {"h": digest})


async def revoke_family_of(db: AsyncConnection, digest: str) -> None:
    """Every refresh token of the sign-in (the family) the token with this digest belongs to."""
    await db.execute(text(
        "UPDATE refresh_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE family_id = "
        "(SELECT family_id FROM refresh_tokens WHERE token_hash = :h)"), {"h": digest})
