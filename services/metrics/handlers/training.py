"""Training sessions: recording one (its counters move with it, and
TrainingRecorded goes out), and listing those of a unit's subtree."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from services.metrics.adapters import training
from services.metrics.handlers.projection import add_counts
from services.metrics.handlers.scope import scoped_unit
from sotay.contracts.metrics import TrainingRecorded
from sotay.kit.auth import Principal
from sotay.kit.clock import hanoi_day
from sotay.kit.events import make_message, uuid7
from sotay.kit.http import invalid
from sotay.kit.outbox import add_events

TRAINERS = ("unit_admin", "city_admin")


async def record(db: AsyncConnection, user: Principal, unit: str, held_on: date, topic: str,
                 people: int) -> dict[str, Any]:
    """Record a session held in `unit` (a trainer's there), in the caller's transaction."""
    u = await scoped_unit(db, user, unit, TRAINERS)
    if held_on > hanoi_day():
        raise invalid([("held_on", "is in the future")])
    session_id, topic = uuid7(), topic.strip()
    await training.record(db, session_id, u["code"], held_on, topic, people, user.subject)
    await add_counts(db, {u["code"]: {"trained_people": people, "training_sessions": 1}})
    await add_events(db, "metrics", [make_message(TrainingRecorded(
        session_id=str(session_id), unit=u["code"], held_on=held_on, topic=topic,
        people=people), aggregate_id=str(session_id), committee=u["committee"], orgunit=u["code"])])
    return {"id": str(session_id), "unit": u["code"], "held_on": held_on.isoformat(), "topic": topic,
            "people": people}


async def sessions(reader: AsyncEngine, user: Principal, unit: str) -> dict[str, Any]:
    """The sessions held in the unit's subtree, latest first."""
    async with reader.connect() as db:
        u = await scoped_unit(db, user, unit)
        return {"items": await training.in_subtree(db, u["path"])}
