"""A member's access request, identity's part: their account, registrations, roles, sign-ins and
reset codes (when, not the secrets), the registry copy identity matches against, and what staff
did to their account."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.identity.adapters import subject as store
from sotay.kit.auth import Principal


async def held(db: AsyncConnection, actor: Principal) -> dict[str, Any]:
    try:
        account = uuid.UUID(actor.subject)
    except ValueError:
        account = None  # a token that is no account's (a service's, a test's): identity holds nothing of it
    return {"service": "identity", "parts": await store.everything(db, account)}
