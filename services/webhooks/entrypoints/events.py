"""Webhooks' consumers: one per stream whose events outside systems may receive (members' and
content's), each queueing every event for the endpoints of its committee (handlers/fanout.py).
The durable consumers read the whole stream: which committee an event is for is matched per
event against the endpoints, which change while the service runs."""

from __future__ import annotations

from services.webhooks.handlers import fanout
from sotay.contracts import content, members
from sotay.kit.consumer import Consumer

UNIT_EVENTS = (members.OrgUnitCreated, members.OrgUnitUpdated)


def consumers() -> list[Consumer]:
    registry = Consumer(name="webhooks-members", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>")
    for event in members.CATALOGUE:
        registry.on(event)(fanout.forward_unit if event in UNIT_EVENTS else fanout.forward)
    articles = Consumer(name="webhooks-content", stream="SOTAY_CONTENT", filter_subject="sotay.content.>")
    for event in content.CATALOGUE:
        articles.on(event)(fanout.forward)
    return [registry, articles]
