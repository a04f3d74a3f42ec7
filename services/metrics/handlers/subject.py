"""A member's access request, metrics' part: the rows of its projection about them (their
registration, their standing as counted, the last day they read). The figures themselves are
counts per unit, about no one."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from services.metrics.adapters import subject as store
from sotay.kit.auth import Principal


async def held(reader: AsyncEngine, actor: Principal) -> dict[str, Any]:
    try:
        account = uuid.UUID(actor.subject)
    except ValueError:
        account = None  # a token that is no member's account (a service, a test): metrics holds nothing of it
    async with reader.connect() as db:
        return {"service": "metrics", "parts": await store.everything(db, account)}
