"""Identity's consumer of the registry: a local replica for matching and scoping."""

from services.identity.handlers import EndSessions
from services.identity.handlers.replica import apply_registry_batch
from sotay.contracts.members import MEMBER_SNAPSHOTS, OrgUnitCreated
from sotay.kit.consumer import Consumer

BATCH = 500  # a registry import arrives as runs of MemberRegistered, each run one executemany


def registry_consumer(end_sessions: EndSessions) -> Consumer:
    consumer = Consumer(name="identity-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>",
                        batch_size=BATCH)

    async def apply_batch(db, envelopes):
        await apply_registry_batch(db, envelopes, end_sessions=end_sessions)
    consumer.on_batch([OrgUnitCreated, *MEMBER_SNAPSHOTS], apply_batch)
    return consumer
