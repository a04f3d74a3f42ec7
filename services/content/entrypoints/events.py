"""Content's consumer of the registry: the org tree and where members sit."""

from services.content import replica
from sotay.consumer import Consumer

MEMBER_EVENTS = ("MemberRegistered", "MemberUpdated", "MemberTransferred", "MemberStatusChanged")


def registry_consumer() -> Consumer:
    consumer = Consumer(name="content-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>")
    consumer.on("sotay.members.OrgUnitCreated.v1")(replica.apply_unit_created)
    consumer.on("sotay.members.OrgUnitUpdated.v1")(replica.apply_unit_updated)
    for name in MEMBER_EVENTS:
        consumer.on(f"sotay.members.{name}.v1")(replica.apply_member)
    return consumer
