"""SQL for the personal-data audit: one row per read of members' records (record_reads, only
ever added to), the count of full records each staff account opened in the last hour, the
unusual-read alerts, and the access history read back from them (docs/breach-runbook.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.domain import Reader, purpose_of
from sotay.kit.db import Where, lock_key

_INSERT_READ = ("INSERT INTO record_reads (actor, what, member_ids, masked, purpose, actor_role, actor_unit, "
                "actor_card, reason) VALUES (:actor, :what, CAST(:members AS uuid[]), :masked, :purpose, :role, "
                ":unit, :card, :reason)")


def _read(reader: Reader, what: str, member_ids: list[Any], masked: bool, purpose: str,
          reason: str | None) -> dict[str, Any]:
    return {"actor": reader.account, "what": what, "members": list(member_ids), "masked": masked,
            "purpose": purpose, "role": reader.role, "unit": reader.unit, "card": reader.card, "reason": reason}


async def audit_read(db: AsyncConnection, reader: Reader, what: str, member_ids: list[Any], *, masked: bool,
                     purpose: str, reason: str | None = None) -> None:
    """One audit row for one read of personal data: who read `what` ('record', 'history',
    'corrections', 'self' or 'reads', the access history) of which members, why (`purpose`,
    domain.PURPOSES), and whether they saw the identifiers masked."""
    await db.execute(text(_INSERT_READ), _read(reader, what, member_ids, masked, purpose, reason))


# The audit row of a full record shown in clear, and the reader's count of those in the last 60
# minutes (this one included), in one statement: the read path pays no extra round trip. The
# current minute's counter is bumped; the 59 minutes before it are added up; older minutes of the
# reader are dropped. (The SELECT sees the table as it was before the statement: its sum leaves
# out the minute the INSERT bumps, which RETURNING gives.)
_FULL_READ = text(
    f"WITH audited AS ({_INSERT_READ}), "
    "dropped AS (DELETE FROM record_read_counts "
    "  WHERE actor = :actor AND minute <= date_trunc('minute', now()) - interval '60 minutes'), "
    "counted AS (INSERT INTO record_read_counts (actor, minute, reads) "
    "  VALUES (:actor, date_trunc('minute', now()), 1) "
    "  ON CONFLICT (actor, minute) DO UPDATE SET reads = record_read_counts.reads + 1 RETURNING reads) "
    "SELECT (SELECT reads FROM counted) + coalesce((SELECT sum(reads) FROM record_read_counts "
    "  WHERE actor = :actor AND minute > date_trunc('minute', now()) - interval '60 minutes' "
    "  AND minute < date_trunc('minute', now())), 0)")


async def audit_full_read(db: AsyncConnection, reader: Reader, member_id: Any) -> int:
    """Audit a staff read of a member's full record in clear; the full records the reader has
    opened in the last hour (counted by the minute), this one included."""
    return (await db.execute(_FULL_READ, _read(reader, "record", [member_id], False, "registry", None))).scalar_one()


# --- unusual reads ---------------------------------------------------------------------------

ALERT_COLUMNS = ("a.id, a.actor, a.actor_role, a.actor_unit, u.name AS actor_unit_name, p.full_name AS actor_name, "
                 "a.reads, a.threshold, a.window_start, a.raised_at, a.closed_at, a.closed_by, a.note")
ALERT_FROM = ("unusual_reads a LEFT JOIN org_units u ON u.code = a.actor_unit "
              "LEFT JOIN members p ON p.party_card_no = a.actor_card")


async def raise_unusual_reads(db: AsyncConnection, alert_id: Any, reader: Reader, reads: int,
                              threshold: int) -> dict[str, Any] | None:
    """The alert that `reader` opened `reads` full records within the hour, unless one was
    raised about them within the last hour (None then). Requests of the same account that cross
    the threshold together wait for each other here, so that one alert is raised."""
    await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(f"unusual-reads {reader.account}")})
    row = (await db.execute(text(
        "INSERT INTO unusual_reads (id, actor, actor_role, actor_unit, actor_card, reads, threshold, window_start, "
        "raised_at) SELECT :id, :actor, :role, :unit, :card, :reads, :threshold, "
        "date_trunc('minute', now()) - interval '59 minutes', now() "
        "WHERE NOT EXISTS (SELECT 1 FROM unusual_reads WHERE actor = :actor AND raised_at > now() - interval '1 hour') "
        "RETURNING id, window_start, raised_at"),
        {"id": alert_id, "actor": reader.account, "role": reader.role, "unit": reader.unit, "card": reader.card,
         "reads": reads, "threshold": threshold})).mappings().first()
    return dict(row) if row else None


async def alerts(db: AsyncConnection, *, open_only: bool, limit: int) -> list[dict[str, Any]]:
    """Unusual-read alerts, newest first, each with the reader's name when the registry knows
    their card and the name of the unit of the role they read in."""
    where = "WHERE a.closed_at IS NULL" if open_only else ""
    rows = await db.execute(text(f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} {where} "
                                 "ORDER BY a.raised_at DESC LIMIT :limit"), {"limit": limit})
    return [dict(r._mapping) for r in rows]


async def alert_by_id(db: AsyncConnection, alert_id: Any, *, lock: bool = False) -> dict[str, Any] | None:
    sql = f"SELECT {ALERT_COLUMNS} FROM {ALERT_FROM} WHERE a.id = :id" + (" FOR UPDATE OF a" if lock else "")
    row = (await db.execute(text(sql), {"id": alert_id})).mappings().first()
    return dict(row) if row else None


async def close_alert(db: AsyncConnection, alert_id: Any, *, actor: str, note: str) -> None:
    await db.execute(text("UPDATE unusual_reads SET closed_at = now(), closed_by = :actor, note = :note "
                          "WHERE id = :id"), {"id": alert_id, "actor": actor, "note": note})


# --- the access history ------------------------------------------------------------------------

MEMBER_COLUMNS = "m.id, m.party_card_no, m.full_name, u.code AS unit, u.name AS unit_name, m.unit_path"


async def members_asked(db: AsyncConnection, ids: list[Any], cards: list[str]) -> list[dict[str, Any]]:
    """The members with these ids or card numbers (those the registry knows), by card number."""
    rows = await db.execute(text(
        f"SELECT {MEMBER_COLUMNS} FROM members m JOIN org_units u ON u.id = m.unit_id "
        "WHERE m.id = ANY(CAST(:ids AS uuid[])) OR m.party_card_no = ANY(CAST(:cards AS text[])) "
        "ORDER BY m.party_card_no"), {"ids": [str(i) for i in ids], "cards": cards})
    return [dict(r._mapping) for r in rows]


async def reads_of(db: AsyncConnection, *, scopes: list[str], member_ids: list[Any] | None, account: str | None,
                   since: datetime | None, until: datetime | None, limit: int) -> list[dict[str, Any]]:
    """Reads of members inside `scopes` (paths), of `member_ids` and/or by `account`, from
    `since` up to `until`, one row per read and member, oldest first: when, who (the account,
    their name when the registry knows their card, the role they read in and its unit), what
    and why."""
    where = (Where().within("m.unit_path", scopes)
             .add("r.member_ids && CAST(:ids AS uuid[]) AND m.id = ANY(CAST(:ids AS uuid[]))",
                  ids=[str(i) for i in member_ids] if member_ids is not None else None)
             .add("r.actor = :account", account=account)
             .add("r.at >= :since", since=since).add("r.at < :until", until=until))
    rows = await db.execute(text(
        "SELECT r.id, r.at, r.actor, p.full_name AS actor_name, r.actor_role, r.actor_unit, "
        "ru.name AS actor_unit_name, r.what, r.masked, r.purpose, r.reason, m.id AS member_id "
        "FROM record_reads r CROSS JOIN LATERAL unnest(r.member_ids) AS seen(member_id) "
        "JOIN members m ON m.id = seen.member_id "
        "LEFT JOIN members p ON p.party_card_no = r.actor_card LEFT JOIN org_units ru ON ru.code = r.actor_unit "
        f"WHERE {where} ORDER BY r.at, r.id, m.id LIMIT :limit"), where.params | {"limit": limit})
    return [{**r._mapping, "purpose": purpose_of(r._mapping)} for r in rows]
