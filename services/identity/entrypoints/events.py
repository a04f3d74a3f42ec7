"""Identity's consumer of the registry: a local replica for matching and scoping. What member
events say of the person is opened with the member's key first (sotay/kit/member_keys.py)."""

from services.identity.handlers import EndSessions
from services.identity.handlers.replica import apply_registry_batch
from sotay.contracts.members import MEMBER_SNAPSHOTS, OrgUnitCreated
from sotay.kit.consumer import Consumer
from sotay.kit.member_keys import open_events
from sotay.kit.service import ServiceContext

BATCH = 500  # a registry import arrives as runs of MemberRegistered, each run one executemany


def registry_consumer(ctx: ServiceContext, end_sessions: EndSessions) -> Consumer:
    # hasher: a version 1 member event carried the name and the date of birth in clear; read as version
    # 2, their keyed hashes are made with identity's key (sotay.contracts.members.member_v1_as_v2).
    consumer = Consumer(name="identity-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>",
                        batch_size=BATCH, hasher=lambda value: ctx.pii_hash(value))

    async def apply_batch(db, envelopes):
        await open_events(ctx.member_keys, envelopes)
        await apply_registry_batch(db, envelopes, end_sessions=end_sessions, pii_hash=ctx.pii_hash)
    consumer.on_batch([OrgUnitCreated, *MEMBER_SNAPSHOTS], apply_batch)
    return consumer
