"""Webhooks' SQL: committees (a replica of members' org tree, its committees only), endpoints
and their deliveries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.webhooks.domain import STREAMS
from sotay.kit.db import Where

# What the operator sees of an endpoint: never its secret.
ENDPOINT_COLUMNS = ("e.id, e.committee, e.url, e.mode, e.description, e.enabled, e.created_by, e.created_at, "
                    "(SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.status = 'pending') AS pending, "
                    "(SELECT count(*) FROM deliveries d WHERE d.endpoint_id = e.id AND d.status = 'failed') AS failed, "
                    "(SELECT max(d.delivered_at) FROM deliveries d WHERE d.endpoint_id = e.id) AS last_delivered_at")
DELIVERY_COLUMNS = ("id, endpoint_id, event_id, event_type, subject, stream, stream_seq, status, attempts, "
                    "next_attempt_at, last_attempt_at, last_status_code, last_error, created_at, delivered_at, "
                    "failed_at")


async def remember_committee(db: AsyncConnection, code: str, name: str) -> None:
    await db.execute(text("INSERT INTO committees (code, name) VALUES (:c, :n) "
                          "ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name"), {"c": code, "n": name})


async def rename_committee(db: AsyncConnection, code: str, name: str) -> None:
    await db.execute(text("UPDATE committees SET name = :n WHERE code = :c"), {"c": code, "n": name})


async def committee_known(db: AsyncConnection, code: str) -> bool:
    return (await db.execute(text("SELECT 1 FROM committees WHERE code = :c"), {"c": code})).first() is not None


async def insert_endpoint(db: AsyncConnection, *, endpoint_id: uuid.UUID, committee: str, url: str, mode: str,
                          secret_sealed: bytes, description: str, created_by: str) -> bool:
    """False when the committee already has an endpoint at this URL."""
    row = await db.execute(text(
        "INSERT INTO endpoints (id, committee, url, mode, secret_sealed, description, created_by) "
        "VALUES (:id, :committee, :url, :mode, :secret, :description, :by) "
        "ON CONFLICT (committee, url) DO NOTHING RETURNING id"),
        {"id": endpoint_id, "committee": committee, "url": url, "mode": mode, "secret": secret_sealed,
         "description": description, "by": created_by})
    return row.first() is not None


async def endpoints(db: AsyncConnection, *, committee: str | None = None) -> list[dict[str, Any]]:
    where = Where().add("e.committee = :committee", committee=committee)
    rows = await db.execute(text(f"SELECT {ENDPOINT_COLUMNS} FROM endpoints e WHERE {where} ORDER BY e.created_at, e.id"),
                            where.params)
    return [dict(r) for r in rows.mappings()]


async def endpoint(db: AsyncConnection, endpoint_id: uuid.UUID) -> dict[str, Any] | None:
    row = (await db.execute(text(f"SELECT {ENDPOINT_COLUMNS} FROM endpoints e WHERE e.id = :id"),
                            {"id": endpoint_id})).mappings().first()
    return dict(row) if row else None


async def set_enabled(db: AsyncConnection, endpoint_id: uuid.UUID, enabled: bool) -> bool:
    row = await db.execute(text("UPDATE endpoints SET enabled = :on WHERE id = :id RETURNING id"),
                           {"on": enabled, "id": endpoint_id})
    return row.first() is not None


async def enabled_endpoints(db: AsyncConnection) -> list[dict[str, Any]]:
    """What the dispatcher sends to, with the sealed secret."""
    rows = await db.execute(text("SELECT id, committee, url, mode, secret_sealed FROM endpoints WHERE enabled"))
    return [dict(r) for r in rows.mappings()]


async def committees_with_endpoints(db: AsyncConnection) -> set[str]:
    return set((await db.execute(text("SELECT DISTINCT committee FROM endpoints WHERE enabled"))).scalars())


async def fan_out(db: AsyncConnection, events: list[dict[str, Any]]) -> int:
    """A delivery of each event (committee, event_id, event_type, subject, stream, stream_seq,
    body, traceparent) to every enabled endpoint of its committee, once each, queued in stream order."""
    if not events:
        return 0
    columns = ("committee", "event_id", "event_type", "subject", "stream", "stream_seq", "body", "traceparent")
    result = await db.execute(text(
        "INSERT INTO deliveries (endpoint_id, event_id, event_type, subject, stream, stream_seq, body, traceparent) "
        "SELECT e.id, b.event_id, b.event_type, b.subject, b.stream, b.stream_seq, b.body, b.traceparent "
        "FROM unnest(CAST(:committee AS text[]), CAST(:event_id AS uuid[]), CAST(:event_type AS text[]), "
        "CAST(:subject AS text[]), CAST(:stream AS text[]), CAST(:stream_seq AS bigint[]), CAST(:body AS bytea[]), "
        "CAST(:traceparent AS text[])) AS b(committee, event_id, event_type, subject, stream, stream_seq, body, "
        "traceparent) JOIN endpoints e ON e.committee = b.committee AND e.enabled "
        "ORDER BY b.stream_seq, e.id ON CONFLICT (endpoint_id, event_id) DO NOTHING"),
        {c: [event[c] for event in events] for c in columns})
    return result.rowcount or 0


async def head(db: AsyncConnection, endpoint_id: uuid.UUID) -> dict[str, Any] | None:
    """The endpoint's next delivery: of the first pending event of each stream (by stream
    sequence: replicas queueing batches of one stream side by side may commit them out of
    order), the one queued first."""
    # Two probes of the index deliveries_pending, however long the queue.
    row = (await db.execute(text(
        "SELECT d.*, now() AS now FROM unnest(CAST(:streams AS text[])) AS s(stream) CROSS JOIN LATERAL ("
        "SELECT id, event_id, event_type, subject, stream, stream_seq, body, traceparent, attempts, next_attempt_at "
        "FROM deliveries WHERE endpoint_id = :e AND status = 'pending' AND stream = s.stream "
        "ORDER BY stream_seq LIMIT 1) d ORDER BY d.id LIMIT 1"),
        {"e": endpoint_id, "streams": list(STREAMS)})).mappings().first()
    return dict(row) if row else None


async def delivered(db: AsyncConnection, delivery_id: int, status_code: int) -> None:
    # The event's bytes are not kept once the endpoint has them.
    await db.execute(text(
        "UPDATE deliveries SET status = 'delivered', attempts = attempts + 1, body = NULL, last_attempt_at = now(), "
        "delivered_at = now(), last_status_code = :code, last_error = NULL WHERE id = :id AND status = 'pending'"),
        {"id": delivery_id, "code": status_code})


async def attempt_failed(db: AsyncConnection, delivery_id: int, *, status_code: int | None, error: str,
                         retry_in_s: float) -> None:
    await db.execute(text(
        "UPDATE deliveries SET attempts = attempts + 1, last_attempt_at = now(), last_status_code = :code, "
        "last_error = :error, next_attempt_at = now() + make_interval(secs => :wait) "
        "WHERE id = :id AND status = 'pending'"),
        {"id": delivery_id, "code": status_code, "error": error[:500], "wait": retry_in_s})


async def gave_up(db: AsyncConnection, delivery_id: int, *, status_code: int | None, error: str) -> None:
    await db.execute(text(
        "UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_attempt_at = now(), "
        "failed_at = now(), last_status_code = :code, last_error = :error WHERE id = :id AND status = 'pending'"),
        {"id": delivery_id, "code": status_code, "error": error[:500]})


async def deliveries(db: AsyncConnection, *, status: str | None, endpoint_id: uuid.UUID | None,
                     committee: str | None, after: int | None, limit: int) -> list[dict[str, Any]]:
    where = (Where().add("d.status = :status", status=status).add("d.endpoint_id = :endpoint", endpoint=endpoint_id)
             .add("e.committee = :committee", committee=committee).add("d.id < :after", after=after))
    columns = ", ".join(f"d.{c.strip()}" for c in DELIVERY_COLUMNS.split(","))
    rows = await db.execute(text(f"SELECT {columns}, e.committee FROM deliveries d JOIN endpoints e "
                                 f"ON e.id = d.endpoint_id WHERE {where} ORDER BY d.id DESC LIMIT :limit"),
                            {**where.params, "limit": limit})
    return [dict(r) for r in rows.mappings()]


async def delivery(db: AsyncConnection, delivery_id: int) -> dict[str, Any] | None:
    columns = ", ".join(f"d.{c.strip()}" for c in DELIVERY_COLUMNS.split(","))
    row = (await db.execute(text(f"SELECT {columns}, e.committee FROM deliveries d JOIN endpoints e "
                                 "ON e.id = d.endpoint_id WHERE d.id = :id"), {"id": delivery_id})).mappings().first()
    return dict(row) if row else None


async def retry(db: AsyncConnection, delivery_ids: list[int]) -> list[int]:
    """Failed deliveries pending again, from their first try's wait; the ids that were failed."""
    rows = await db.execute(text(
        "UPDATE deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), failed_at = NULL "
        "WHERE id = ANY(:ids) AND status = 'failed' AND body IS NOT NULL RETURNING id"), {"ids": delivery_ids})
    return sorted(rows.scalars())


async def failed_ids(db: AsyncConnection, endpoint_id: uuid.UUID | None) -> list[int]:
    where = Where().add("status = 'failed'").add("endpoint_id = :e", e=endpoint_id)
    return list((await db.execute(text(f"SELECT id FROM deliveries WHERE {where} ORDER BY id"), where.params)).scalars())


def as_time(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
