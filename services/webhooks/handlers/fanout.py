"""From the streams to the deliveries table: each event of a committee becomes one pending
delivery per enabled endpoint of that committee, in the consumer's transaction (its inbox rows
with it), so an event redelivered by NATS is queued once. A fetched batch is queued in one
statement (none when no endpoint wants any of it). The event's bytes are kept exactly as
published: member events' personal part stays sealed (docs/events.md); nothing is opened here.

The committee is the last token of the event's subject, matched exactly: an endpoint of
ba-dinh never gets a delivery of tay-ho's events, nor of the city's."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.webhooks.adapters import store
from services.webhooks.domain import committee_of
from sotay.contracts.members import OrgUnitCreated, OrgUnitUpdated
from sotay.kit.consumer import PermanentError, current_messages

COMMITTEE_KINDS = ("city", "committee")
CREATED, UPDATED = OrgUnitCreated.event_type(), OrgUnitUpdated.event_type()


async def forward(db: AsyncConnection, envelopes: list[dict[str, Any]]) -> None:
    """Queue the batch's events for their committees' endpoints. A committee's own unit events
    (and the city's) are remembered too, so an endpoint is set up only for a committee the org
    tree has."""
    messages = current_messages.get()
    for envelope in envelopes:
        data = envelope["data"]
        if envelope["type"] == CREATED and data.get("kind") in COMMITTEE_KINDS:
            await store.remember_committee(db, data["code"], data["name"])
        elif envelope["type"] == UPDATED:
            await store.rename_committee(db, data["code"], data["name"])
    wanted = await store.committees_with_endpoints(db)
    events = []
    for envelope in envelopes:
        msg = messages.get(envelope["id"])
        if msg is None:  # the kit gives handlers their messages; anything else is a mistake
            raise PermanentError("no message to forward")
        committee = committee_of(msg.subject)
        if committee in wanted:
            events.append({"committee": committee, "event_id": envelope["id"], "event_type": envelope["type"],
                           "subject": msg.subject, "stream": msg.metadata.stream,
                           "stream_seq": msg.metadata.sequence.stream, "body": bytes(msg.data),
                           "traceparent": (msg.headers or {}).get("traceparent")})
    await store.fan_out(db, events)
