"""A member's access request, content's part: what it holds about them (their reads, feedback,
meeting answers, quiz results, bookmarks, notification choices and devices, and where the registry replica
places them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.content.adapters import subject as store
from sotay.kit.auth import Principal


async def held(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    return {"service": "content", "parts": await store.everything(db, actor.subject, actor.member_card_no)}
