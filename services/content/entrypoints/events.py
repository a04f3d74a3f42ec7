"""Content's consumer of the registry: the org tree and where members sit."""

from services.content.handlers import replica
from sotay.contracts.members import MEMBER_SNAPSHOTS, UNIT_EVENTS
from sotay.kit.consumer import Consumer

BATCH = 500  # a registry import arrives as runs of MemberRegistered, each run one executemany


def registry_consumer() -> Consumer:
    consumer = Consumer(name="content-registry", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>",
                        batch_size=BATCH)
    consumer.on_batch([*UNIT_EVENTS, *MEMBER_SNAPSHOTS],
                      replica.apply_registry_batch)
    return consumer
