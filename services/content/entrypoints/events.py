"""Content's consumer of the registry: the org tree and where members sit."""

from services.content import replica
from sotay.kit.consumer import Consumer

BATCH = 500  # a registry import arrives as runs of MemberRegistered, each run one executemany


def registry_consumer() -> Consumer:
    consumer = Consumer(name="content-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>",
                        batch_size=BATCH)
    consumer.on_batch([replica.UNIT_CREATED, replica.UNIT_UPDATED, *replica.MEMBER_EVENTS],
                      replica.apply_registry_batch)
    return consumer
