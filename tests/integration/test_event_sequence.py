"""The CloudEvents Sequence extension on real NATS and PostgreSQL: events as the services publish
them read by the official CloudEvents SDK, `sequence` a 20-digit string; and replicas (identity's
registry, content's readers, metrics' members) ordering a member's snapshots by it, whether an
event carries the string or, published before it, a JSON integer (still in the streams, replayed):
a stale one is dropped, a newer one applied."""

from __future__ import annotations

import uuid

import nats
import orjson
import pytest
from cloudevents.core.formats.json import JSONFormat
from sqlalchemy import text

import services.content
import services.identity
import services.members
import services.metrics
from tests.support.system import (
    create_org_tree, eventually, identity_holds_registry, import_registry, make_settings, registry_row, running_system,
)

pytestmark = pytest.mark.integration

CARD = "0100000021"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition()]
    async with running_system(definitions, make_settings(data_dir), nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh"], admin)
        await import_registry(system.client, [registry_row(CARD, "Phạm Văn Dũng", "ba-dinh-g1-c1")], admin)
        await identity_holds_registry(system, 1)
        yield system


async def stream_messages(nats_url: str, stream: str) -> list:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        sub = await js.subscribe(info.config.subjects[0], ordered_consumer=True)
        found = [await sub.next_msg(timeout=5) for _ in range(info.state.messages)]
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


async def test_published_events_read_with_the_cloudevents_sdk(system, nats_url):
    async def snapshots():
        return await stream_messages(nats_url, "SOTAY_METRICS")
    await eventually(snapshots)
    messages = [*await stream_messages(nats_url, "SOTAY_MEMBERS"), *await stream_messages(nats_url, "SOTAY_METRICS")]
    types = set()
    for msg in messages:
        event = JSONFormat().read(None, msg.data)
        assert event.get_specversion() == "1.0" and event.get_id() == msg.headers["Nats-Msg-Id"]
        assert event.get_time().tzinfo is not None
        sequence = event.get_extension("sequence")
        assert sequence is None or (isinstance(sequence, str) and len(sequence) == 20 and sequence.isdigit())
        types.add(event.get_type())
    assert {"sotay.members.OrgUnitCreated.v1", "sotay.members.MemberRegistered.v2",
            "sotay.metrics.RolloutSnapshot.v1"} <= types
    registered = next(orjson.loads(m.data) for m in messages if b"MemberRegistered" in m.data)
    assert registered["sequence"] == "00000000000000000001"


async def replicas(system, member: str) -> dict[str, tuple]:
    queries = {"identity": "SELECT version, status FROM registry_members WHERE member_id = CAST(:m AS uuid)",
               "content": "SELECT version, status FROM readers WHERE member_id = CAST(:m AS uuid)",
               "metrics": "SELECT version, status FROM members WHERE member_id = CAST(:m AS uuid)"}
    found = {}
    for service, sql in queries.items():
        async with system.runtimes[service].context.engine.connect() as db:
            row = (await db.execute(text(sql), {"m": member})).one_or_none()
            found[service] = tuple(row) if row else None
    return found


async def seen_by_all(system, event_id: str) -> bool:
    """Each replica's consumer has taken the event (its inbox row), applied or dropped as stale."""
    for service in ("identity", "content", "metrics"):
        async with system.runtimes[service].context.engine.connect() as db:
            if not (await db.execute(text("SELECT count(*) FROM inbox WHERE event_id = CAST(:e AS uuid)"),
                                     {"e": event_id})).scalar_one():
                return False
    return True


async def test_replicas_order_snapshots_by_sequence_in_either_form(system, nats_url):
    registered = next(orjson.loads(m.data) for m in await stream_messages(nats_url, "SOTAY_MEMBERS")
                      if b"MemberRegistered" in m.data)
    member = registered["data"]["member_id"]

    async def applied(version: int, status: str):
        found = await replicas(system, member)
        return found if set(found.values()) == {(version, status)} else None
    await eventually(lambda: applied(1, "active"), timeout=20)

    nc = await nats.connect(nats_url)
    js = nc.jetstream()

    async def send(sequence, status: str) -> str:
        """The member's snapshot again (its sealed part opens: the member's own key), as written
        by members before the string form (an integer) or after it."""
        envelope = {**registered, "id": str(uuid.uuid4()), "sequence": sequence,
                    "data": {**registered["data"], "status": status}}
        await js.publish("sotay.members.member_updated.ba-dinh", orjson.dumps(envelope),
                         headers={"Nats-Msg-Id": envelope["id"]})
        return envelope["id"]
    try:
        await send(10, "exempt")  # an event of before: the version as a JSON integer
        await eventually(lambda: applied(10, "exempt"), timeout=20)
        stale = await send("00000000000000000009", "active")  # older than what the replicas hold
        await eventually(lambda: seen_by_all(system, stale), timeout=20)
        assert set((await replicas(system, member)).values()) == {(10, "exempt")}
        await send("00000000000000000011", "active")  # newer: "…11" > 10, though "11" < "9" would not sort
        await eventually(lambda: applied(11, "active"), timeout=20)
        old_again = await send(10, "exempt")  # an integer replayed after the string form: stale too
        await eventually(lambda: seen_by_all(system, old_again), timeout=20)
        assert set((await replicas(system, member)).values()) == {(11, "active")}
    finally:
        await nc.close()
