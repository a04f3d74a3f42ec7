"""The registry's consumer of identity: whether a member has an account."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from sotay.contracts.identity import AccountApproved, AccountDisabled
from sotay.kit.consumer import Consumer


def accounts_consumer() -> Consumer:
    consumer = Consumer(name="members-accounts", stream="SOTAY_IDENTITY", filter_subject="sotay.identity.>")

    @consumer.on(AccountApproved)
    async def account_opened(db: AsyncConnection, envelope: dict) -> None:
        await _set_has_account(db, envelope["data"]["member_id"], True)

    @consumer.on(AccountDisabled)
    async def account_closed(db: AsyncConnection, envelope: dict) -> None:
        await _set_has_account(db, envelope["data"]["member_id"], False)

    return consumer


async def _set_has_account(db: AsyncConnection, member_id: str, value: bool) -> None:
    await db.execute(text("UPDATE members SET has_account = :v WHERE id = :m"), {"v": value, "m": member_id})
