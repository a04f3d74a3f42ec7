"""Identity's consumer of the registry: a local replica for matching and scoping."""

from services.identity import handlers
from sotay.consumer import Consumer

MEMBER_EVENTS = ("MemberRegistered", "MemberUpdated", "MemberTransferred", "MemberStatusChanged")


def registry_consumer(end_sessions: handlers.EndSessions) -> Consumer:
    consumer = Consumer(name="identity-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>")
    consumer.on("sotay.members.OrgUnitCreated.v1")(handlers.apply_unit_event)

    async def apply_member_event(db, envelope):
        await handlers.apply_member_event(db, envelope, end_sessions=end_sessions)
    for name in MEMBER_EVENTS:
        consumer.on(f"sotay.members.{name}.v1")(apply_member_event)
    return consumer
