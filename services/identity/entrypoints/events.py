"""Identity's consumer of the registry: a local replica for matching and scoping."""

from services.identity import handlers
from sotay.kit.consumer import Consumer

MEMBER_EVENTS = ("MemberRegistered", "MemberUpdated", "MemberTransferred", "MemberStatusChanged")

BATCH = 500  # a registry import arrives as runs of MemberRegistered, each run one executemany


def registry_consumer(end_sessions: handlers.EndSessions) -> Consumer:
    consumer = Consumer(name="identity-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>",
                        batch_size=BATCH)

    async def apply_batch(db, envelopes):
        await handlers.apply_registry_batch(db, envelopes, end_sessions=end_sessions)
    consumer.on_batch([handlers.UNIT_CREATED] + [f"sotay.members.{name}.v1" for name in MEMBER_EVENTS], apply_batch)
    return consumer
