"""Webhooks' consumers: one per stream whose events outside systems may receive (members' and
content's), each queueing every event for the endpoints of its committee (handlers/fanout.py),
a fetched batch at a time. The durable consumers read the whole stream: which committee an
event is for is matched per event against the endpoints, which change while the service runs."""

from __future__ import annotations

from services.webhooks.domain import STREAMS
from services.webhooks.handlers import fanout
from sotay.contracts import content, members
from sotay.kit.consumer import Consumer

BATCH = 250  # one statement a batch (and one to find the committees with endpoints)


def consumers() -> list[Consumer]:
    # Events go out as they came: a version 1 member event (the person in clear) is not read as a
    # version 2 but dead-lettered (reads_older=False), never sent on.
    registry = Consumer(name="webhooks-members", stream=STREAMS[0], filter_subject="sotay.members.>",
                        batch_size=BATCH, reads_older=False)
    registry.on_batch(members.CATALOGUE, fanout.forward)
    articles = Consumer(name="webhooks-content", stream=STREAMS[1], filter_subject="sotay.content.>",
                        batch_size=BATCH)
    articles.on_batch(content.CATALOGUE, fanout.forward)
    return [registry, articles]
