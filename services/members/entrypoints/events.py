"""The registry's consumer of identity: whether a member has an account."""

from sqlalchemy.ext.asyncio import AsyncConnection

from services.members.adapters import registry
from sotay.contracts.identity import AccountApproved, AccountDisabled
from sotay.kit.consumer import Consumer


def accounts_consumer() -> Consumer:
    consumer = Consumer(name="members-accounts", stream="SOTAY_IDENTITY", filter_subject="sotay.identity.>")

    @consumer.on(AccountApproved)
    async def account_opened(db: AsyncConnection, envelope: dict) -> None:
        await registry.set_has_account(db, envelope["data"]["member_id"], True)

    @consumer.on(AccountDisabled)
    async def account_closed(db: AsyncConnection, envelope: dict) -> None:
        await registry.set_has_account(db, envelope["data"]["member_id"], False)

    return consumer
