"""From the streams to the deliveries table: each event of a committee becomes one pending
delivery per enabled endpoint of that committee, in the consumer's transaction (its inbox row
with it), so an event redelivered by NATS is queued once. The event's bytes are kept exactly as
published: member events' personal part stays sealed (docs/events.md); nothing is opened here.

The committee is the last token of the event's subject, matched exactly: an endpoint of
ba-dinh never gets a delivery of tay-ho's events, nor of the city's."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from services.webhooks.adapters import store
from services.webhooks.domain import committee_of
from sotay.contracts.members import OrgUnitCreated, OrgUnitUpdated
from sotay.kit.consumer import PermanentError, current_message

COMMITTEE_KINDS = ("city", "committee")


async def forward(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    msg = current_message.get()
    if msg is None:  # the kit runs handlers with their message; anything else is a mistake
        raise PermanentError("no message to forward")
    meta = msg.metadata
    await store.fan_out(db, committee=committee_of(msg.subject), event_id=envelope["id"],
                        event_type=envelope["type"], subject=msg.subject, stream=meta.stream,
                        stream_seq=meta.sequence.stream, body=bytes(msg.data),
                        traceparent=(msg.headers or {}).get("traceparent"))


async def forward_unit(db: AsyncConnection, envelope: dict[str, Any]) -> None:
    """A unit's events are forwarded too; a committee's (and the city's) are remembered, so an
    endpoint is set up only for a committee the org tree has."""
    data = envelope["data"]
    if envelope["type"] == OrgUnitCreated.event_type() and data.get("kind") in COMMITTEE_KINDS:
        await store.remember_committee(db, data["code"], data["name"])
    elif envelope["type"] == OrgUnitUpdated.event_type():
        await store.rename_committee(db, data["code"], data["name"])
    await forward(db, envelope)
