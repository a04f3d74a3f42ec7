"""The SQL of what metrics holds about one account (a data subject's access request): the
projection's rows for the account and its member, before they are folded into unit counts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.kit.db import rows_of

PARTS: dict[str, str] = {
    "registrations": "SELECT registration_id, account_id, member_id, unit, platform, status, activated "
                     "FROM registrations WHERE account_id = :account",
    "member": "SELECT member_id, unit, status, eligible, reason, installed FROM members "
              "WHERE member_id IN (SELECT member_id FROM registrations WHERE account_id = :account)",
    "reading": "SELECT unit, last_day FROM readers WHERE account_id = :account_text",
}


async def everything(db: AsyncConnection, account: Any) -> dict[str, list[dict[str, Any]]]:
    """`account`: the account's id (a uuid), or None for a token that is not an account's."""
    if account is None:
        return {name: [] for name in PARTS}
    return await rows_of(db, PARTS, {"account": account, "account_text": str(account)})
