"""Published snapshots: the figures last published of each unit (`published`,
written by the publishing replica alone) and the key-value bucket
`sotay_rollout` that holds the latest of each unit for readers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.publishing import BatchPublisher
from sotay.kit.streams import ROLLOUT_BUCKET

FLUSH_CHUNK = 500  # rows of `published` encoded and written at a time

# A unit's last published figures: (the body as published, its digest, when).
Entry = tuple[bytes, bytes, datetime]


async def write(conn: AsyncConnection, pending: dict[str, Entry]) -> None:
    """Write each unit's published figures to `published`, in the caller's transaction."""
    codes = list(pending)
    for start in range(0, len(codes), FLUSH_CHUNK):  # a chunk's rows encoded at a time
        chunk = codes[start:start + FLUSH_CHUNK]
        rows = [pending[c] for c in chunk]
        await conn.execute(text(
            "INSERT INTO published (unit, figures, digest, published_at) SELECT * FROM unnest("
            "CAST(:u AS text[]), CAST(:f AS text[]), CAST(:d AS bytea[]), CAST(:t AS timestamptz[])) "
            "ON CONFLICT (unit) DO UPDATE SET figures = EXCLUDED.figures, digest = EXCLUDED.digest, "
            "published_at = EXCLUDED.published_at"),
            {"u": chunk, "f": [r[0].decode() for r in rows], "d": [r[1] for r in rows], "t": [r[2] for r in rows]})


async def digests(conn: AsyncConnection) -> dict[str, bytes]:
    """The digest of each unit's last published figures."""
    return dict((await conn.execute(text("SELECT unit, digest FROM published"))).all())


async def bodies(conn: AsyncConnection) -> list[tuple[str, bytes]]:
    """Each unit's last published figures, as published."""
    rows = (await conn.execute(text("SELECT unit, figures FROM published"))).all()
    return [(unit, body.encode()) for unit, body in rows]


async def put(publisher: BatchPublisher, values: list[tuple[str, bytes]]) -> None:
    """Put each unit's figures in the bucket; a put not stored fails the round."""
    results = await publisher.publish([(f"$KV.{ROLLOUT_BUCKET}.{code}", body, None) for code, body in values])
    failed = [r for r in results if r is not None]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(values)} puts in {ROLLOUT_BUCKET} not stored: {failed[0]!r}")


async def last_at(conn: AsyncConnection) -> datetime | None:
    """When figures were last published (as `published` records them)."""
    return (await conn.execute(text("SELECT max(published_at) FROM published"))).scalar()
