"""SQL for the consent ledger (migration 006): rows added, a registrant's rows read, and each
account's standing for the staff's view, per unit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity.adapters.store import Db, Statement
from sotay.kit.db import Where


RECORD = Statement(
    "INSERT INTO consents (id, purpose, registration_id, account_id, notice_version, action, method, client, "
    "address_hash) SELECT $1, p, $2, $3, $4, $5, $6, $7, $8 FROM unnest($9::text[]) p RETURNING at")


async def record(db: Db, *, consent_id: Any, registration_id: Any, account_id: Any, version: int,
                 purposes: list[str], action: str, method: str, client: str, address_hash: str) -> datetime:
    """One giving or withdrawal, a row per purpose; when it was recorded."""
    return await RECORD.value(db, consent_id, registration_id, account_id, version, action, method, client,
                              address_hash, purposes)


async def ledger(db: AsyncConnection, registration_id: Any) -> list[dict[str, Any]]:
    """A registrant's rows, oldest first (the latest of a purpose is its standing)."""
    rows = (await db.execute(text(
        "SELECT id, purpose, account_id, notice_version, action, method, at, client FROM consents "
        "WHERE registration_id = :r ORDER BY at, id, purpose"), {"r": registration_id})).mappings()
    return [dict(r) for r in rows]


# Each active member account under a unit, with the standing of its consent: the latest row of
# the account purpose (its version, when, how; `withdrawn` is a request to close the account) and
# the optional purposes it holds now.
STANDING = """
SELECT a.id AS account_id, a.member_id, a.unit, a.unit_path,
       g.full_name,
       acc.action AS account_action, acc.notice_version, acc.at, acc.method,
       coalesce(opt.held, CAST(ARRAY[] AS text[])) AS held
FROM accounts a
LEFT JOIN registry_members r ON r.member_id = a.member_id
LEFT JOIN registrations g ON g.id = a.registration_id
LEFT JOIN LATERAL (SELECT c.action, c.notice_version, c.at, c.method FROM consents c
                   WHERE c.registration_id = a.registration_id AND c.purpose = :account
                   ORDER BY c.at DESC, c.id DESC LIMIT 1) acc ON true
LEFT JOIN LATERAL (SELECT array_agg(p.purpose ORDER BY p.purpose) AS held FROM (
                     SELECT DISTINCT ON (c.purpose) c.purpose, c.action FROM consents c
                     WHERE c.registration_id = a.registration_id AND c.purpose <> :account
                     ORDER BY c.purpose, c.at DESC, c.id DESC) p WHERE p.action = 'given') opt ON true
WHERE a.member_id IS NOT NULL AND a.status = 'active' AND {where}
"""


async def unit_counts(db: AsyncConnection, *, base_path: str, account_purpose: str, current: int,
                      optional: list[str]) -> list[dict[str, Any]]:
    """Per unit directly below the one at `base_path` (its own members: `child` ''), how many
    member accounts there are and how many stand at the current version, an older one, none, or
    asked to close; and how many hold each optional purpose."""
    where = Where().within("a.unit_path", [base_path])
    held = {f"purpose_{i}": code for i, code in enumerate(optional)}
    rows = (await db.execute(text(
        "SELECT split_part(substr(s.unit_path, length(:base) + 1), '/', 1) AS child, count(*) AS accounts, "
        "count(*) FILTER (WHERE s.account_action = 'given' AND s.notice_version = :current) AS current, "
        "count(*) FILTER (WHERE s.account_action = 'given' AND s.notice_version < :current) AS older, "
        "count(*) FILTER (WHERE s.account_action IS NULL) AS none, "
        "count(*) FILTER (WHERE s.account_action = 'withdrawn') AS closing"
        + "".join(f", count(*) FILTER (WHERE CAST(:{name} AS text) = ANY(s.held)) AS {name}" for name in held)
        + f" FROM ({STANDING.format(where=where)}) s GROUP BY child ORDER BY child"),
        where.params | held | {"base": base_path, "account": account_purpose, "current": current})).mappings()
    return [{**{k: v for k, v in r.items() if k not in held},
             "purposes": {code: r[name] for name, code in held.items()}} for r in rows]


async def unit_members(db: AsyncConnection, *, base_path: str, account_purpose: str, limit: int,
                       after: tuple[str, str] | None) -> list[dict[str, Any]]:
    """A page of the member accounts under the unit at `base_path` with their standing, by unit."""
    where = Where().within("a.unit_path", [base_path]).after("(a.unit, a.id)", after, "text", "uuid")
    rows = (await db.execute(text(
        f"{STANDING.format(where=where)} ORDER BY a.unit, a.id LIMIT :limit"),
        where.params | {"account": account_purpose, "limit": limit})).mappings()
    return [dict(r) for r in rows]
