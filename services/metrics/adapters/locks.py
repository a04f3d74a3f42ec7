"""Metrics' PostgreSQL advisory locks, all keyed by the kit's `lock_key` of a
name `metrics-<kind>:<value>`.

Events about one member arrive on two streams (members and identity) through
two consumers; transaction-scoped locks on the batch's members serialise them,
so "has this member installed?" is decided on committed data. Replicas sharing
a consumer apply batches side by side: locks on the batch's registrations
serialise two events of one registration (tests/chaos), and locks on readers
two reads of one account. One folder at a time folds the counters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.db import lock_key
from sotay.kit.outbox import leader_name


def lock_name(kind: str, value: Any) -> str:
    """The name of metrics' lock on one `value` of a `kind` (member, registration, reader, ...)."""
    return f"metrics-{kind}:{value}"


# The session lock of the replica that publishes the snapshots (handlers/snapshots.py).
PUBLISHER = lock_name("publisher", "snapshots")


async def lock(db: AsyncConnection, kind: str, values: Iterable[Any]) -> None:
    """Transaction-scoped locks on `values` of `kind` (None left out)."""
    keys = sorted({lock_key(lock_name(kind, v)) for v in values if v is not None})
    if keys:  # in one order everywhere, so two consumers never wait on each other in a circle
        await db.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:k AS bigint[])) AS k ORDER BY k"),
                         {"k": keys})


async def lock_members(db: AsyncConnection, member_ids: Iterable[Any]) -> None:
    await lock(db, "member", member_ids)


async def lock_fold(db: AsyncConnection) -> None:
    """One folder at a time: a second one waits for the first's transaction."""
    await db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(lock_name("fold", "counters"))})


async def relay_is_running(db: AsyncConnection) -> bool:
    """Whether a running metrics service holds its outbox relay's lock (if not,
    this session now does, until it ends)."""
    return not (await db.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                 {"k": lock_key(leader_name("metrics"))})).scalar_one()
