"""Outbox relay, inbox consumers, dead letters and tracing on a real
nats-server -js and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import jsonschema
import nats
import orjson
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text

import services.members
from sotay.contracts.members import MemberRegistered
from sotay.kit.db import driver_transaction, plain_url
from sotay.kit.events import message_from_payload
from sotay.kit.outbox import OutboxRelay, add_events, notify_channel
from sotay.kit.telemetry import setup_tracing
from tests.support.probe import Faults, probe_definition
from tests.support.system import eventually, make_settings, running_system

pytestmark = pytest.mark.integration

SPANS = InMemorySpanExporter()
FAULTS = Faults()


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    setup_tracing("sotay-test", SimpleSpanProcessor(SPANS))
    settings = make_settings(data_dir)
    definitions = [services.members.definition(), probe_definition(FAULTS)]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        for unit in [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"},
                     {"code": "ba-dinh", "name": "Quận Ba Đình", "kind": "committee", "parent": "city", "wave": 1},
                     {"code": "bd-g1", "name": "Phường Phúc Xá", "kind": "grassroots", "parent": "ba-dinh"},
                     {"code": "bd-g1-c1", "name": "Chi bộ số 1", "kind": "cell", "parent": "bd-g1"}]:
            assert (await system.client.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201
        yield system


_cards = iter(range(10_000_000, 99_999_999))


async def create_member(system, full_name: str) -> dict:
    member = {"party_card_no": f"05{next(_cards)}", "full_name": full_name, "date_of_birth": "1970-01-01",
              "unit": "bd-g1-c1"}
    response = await system.client.post("/api/members/v1/members", json=member,
                                        headers=system.auth("unit_admin", "ba-dinh"))
    assert response.status_code == 201, response.text
    return response.json()


async def effects(system, subject: str | None = None) -> list:
    async with system.runtimes["probe"].context.engine.connect() as conn:
        sql = "SELECT event_id, subject, applied FROM effects" + (" WHERE subject = :s" if subject else "")
        return (await conn.execute(text(sql), {"s": subject})).all()


async def dead_letters(nats_url: str) -> list:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("sotay.dlq.>", stream="SOTAY_DLQ")
        try:
            return await sub.fetch(batch=100, timeout=1)
        except TimeoutError:  # nats-py's own, or asyncio's when its deadline passes first
            return []
    finally:
        await nc.close()


async def test_created_member_is_one_message_matching_the_published_schema(system, nats_url):
    nc = await nats.connect(nats_url)
    received = []

    async def collect(msg):
        received.append(msg)
    await nc.subscribe("sotay.members.member_registered.ba-dinh", cb=collect)
    member = await create_member(system, "Đỗ Thị Lan")
    # A later member's event comes after anything more the first could bring (the relay keeps commit order).
    later = await create_member(system, "Đỗ Thị Mai")
    await eventually(lambda: [m for m in received if later["id"] in m.data.decode()])
    await nc.close()
    ours = [m for m in received if orjson.loads(m.data)["subject"] == member["id"]]
    assert len(ours) == 1
    envelope = orjson.loads(ours[0].data)
    assert ours[0].headers["Nats-Msg-Id"] == envelope["id"]
    assert uuid.UUID(envelope["id"]).version == 7
    schema_url = f"/api/members/v1/events/{MemberRegistered.event_type()}.schema.json"
    schema = (await system.client.get(schema_url)).json()
    jsonschema.validate(envelope, schema)
    assert envelope["type"] == "sotay.members.MemberRegistered.v2"
    assert envelope["source"] == "sotay/members" and envelope["orgunit"] == "bd-g1-c1"
    assert envelope["sequence"] == "00000000000000000001"  # CloudEvents Sequence: a string that sorts
    # Nothing of the person in clear: sealed under the member's key (sotay/kit/member_keys.py).
    assert not {"citizen_id", "phone", "full_name", "party_card_no", "date_of_birth"} & set(envelope["data"])
    assert "Đỗ Thị Lan" not in ours[0].data.decode()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**envelope, "type": "sotay.members.Other.v1"}, schema)


def probe_event(name: str):
    payload = {"full_name": name}
    return message_from_payload(MemberRegistered, payload, aggregate_id=str(uuid.uuid4()), committee="ba-dinh")


async def test_out_of_order_commits_lose_nothing(system, database_url):
    early, late = probe_event("Sớm Mở"), probe_event("Muộn Mở")
    first = await asyncpg.connect(plain_url(database_url), server_settings={"search_path": "members"})
    second = await asyncpg.connect(plain_url(database_url), server_settings={"search_path": "members"})
    try:
        tx1 = first.transaction()
        await tx1.start()
        await first.execute("INSERT INTO outbox (event_id, subject, body) VALUES ($1, $2, $3)",
                            early.id, early.subject, early.body())
        # The second transaction takes a later position but commits first.
        async with second.transaction():
            await second.execute("INSERT INTO outbox (event_id, subject, body) VALUES ($1, $2, $3)",
                                 late.id, late.subject, late.body())
        await eventually(lambda: effects(system, late.envelope["subject"]))
        await asyncio.sleep(0.3)
        await tx1.commit()
        applied = await eventually(lambda: effects(system, early.envelope["subject"]))
        assert applied[0].applied == 1
    finally:
        await first.close()
        await second.close()


class RelayKilledAfterPublish(Exception):
    pass


class CrashingRelay(OutboxRelay):
    """Dies after JetStream acked the batch and before the rows are marked."""

    async def _mark_published(self, conn, positions):
        raise RelayKilledAfterPublish()


async def test_relay_killed_between_publish_and_mark_causes_no_duplicate_effect(system, database_url):
    members = system.runtimes["members"]
    await members.stop_relay()  # this test drives its own relays
    js, nc = members.context.js, members.context.nc
    events = [probe_event(f"Lần Thứ {chr(65 + i)}") for i in range(20)]
    async with members.context.engine.begin() as conn:
        await add_events(conn, "members", events)

    conn = await asyncpg.connect(plain_url(database_url), server_settings={"search_path": "members"})
    try:
        with pytest.raises(RelayKilledAfterPublish):
            await CrashingRelay(database_url, "members", js, nc).publish_pending(conn)
        unpublished = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        assert unpublished == 20  # the crash left every row to publish again
        before = (await js.stream_info("SOTAY_MEMBERS")).state.messages
        assert await OutboxRelay(database_url, "members", js, nc).publish_pending(conn) == 20
        # JetStream dropped the republished messages as duplicates (Nats-Msg-Id = event id).
        assert (await js.stream_info("SOTAY_MEMBERS")).state.messages == before
        # Past the duplicate window the stream would keep a second copy: the inbox still applies it once.
        await js.publish(events[0].subject, events[0].body(), headers={"Nats-Msg-Id": f"late-{events[0].id}"})
    finally:
        await conn.close()
        members.start_relay()

    subjects = {e.envelope["subject"] for e in events}
    rows = await eventually(lambda: _effects_for(system, subjects, 20))
    assert sorted(r.applied for r in rows) == [1] * 20
    await asyncio.sleep(0.5)
    assert all(r.applied == 1 for r in await _effects_for(system, subjects, 20))


async def test_events_written_wake_the_relay_when_their_transaction_commits(system, database_url):
    members = system.runtimes["members"]
    woken: asyncio.Queue = asyncio.Queue()
    listener = await asyncpg.connect(plain_url(database_url))
    await listener.add_listener(notify_channel("members"),
                                lambda _conn, _pid, channel, _payload: woken.put_nowait(channel))
    try:
        async with members.context.engine.connect() as conn:
            async with conn.begin() as tx:
                await add_events(conn, "members", [probe_event("Không Gửi")])
                await tx.rollback()
            await asyncio.sleep(0.3)
            assert woken.empty()  # rolled back: the rows and the wake-up are gone together
            async with conn.begin():
                await add_events(conn, "members", [probe_event("Có Gửi")])
                await asyncio.sleep(0.3)
                assert woken.empty()  # not before the commit …
        assert await asyncio.wait_for(woken.get(), 5) == notify_channel("members")  # … and once it commits
    finally:
        await listener.close()


async def test_events_written_in_a_driver_transaction_go_with_it(system, database_url):
    """kit/db.py driver_transaction, and add_events on asyncpg's own connection (content's read of an
    article): a refusal rolls the rows and the wake-up back; a commit keeps the same row the
    engine's path writes and wakes the relay; a driver's error quotes no value."""
    members = system.runtimes["members"]
    woken: asyncio.Queue = asyncio.Queue()
    listener = await asyncpg.connect(plain_url(database_url))
    await listener.add_listener(notify_channel("members"),
                                lambda _conn, _pid, channel, _payload: woken.put_nowait(channel))
    refused, kept = probe_event("Không Giữ"), probe_event("Có Giữ")
    try:
        with pytest.raises(LookupError):
            async with driver_transaction(members.context.reader) as conn:
                assert await add_events(conn, "members", [refused]) == 1
                raise LookupError("the use case refused")
        await asyncio.sleep(0.3)
        assert woken.empty()
        async with driver_transaction(members.context.reader) as conn:
            await add_events(conn, "members", [kept])
            await asyncio.sleep(0.3)
            assert woken.empty()  # not before the commit
        assert await asyncio.wait_for(woken.get(), 5) == notify_channel("members")
        with pytest.raises(asyncpg.DataError) as raised:
            async with driver_transaction(members.context.reader) as conn:
                await conn.fetchval("SELECT $1::int", "0912345678")
        assert "0912345678" not in str(raised.value)
    finally:
        await listener.close()
    async with members.context.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT event_id, subject, body FROM outbox WHERE event_id = ANY(:ids)"),
                                   {"ids": [refused.id, kept.id]})).all()
    assert [(str(r.event_id), r.subject, bytes(r.body)) for r in rows] == [(str(kept.id), kept.subject, kept.body())]


async def _effects_for(system, subjects, expected):
    rows = [r for r in await effects(system) if r.subject in subjects]
    return rows if len(rows) == expected else None


async def test_transient_failure_is_retried_and_succeeds(system, nats_url):
    FAULTS.fail_times["Phạm Tạm Lỗi"] = 2
    member = await create_member(system, "Phạm Tạm Lỗi")
    rows = await eventually(lambda: effects(system, member["id"]), timeout=15)
    assert rows[0].applied == 1
    assert FAULTS.calls["Phạm Tạm Lỗi"] == 3
    assert not [m for m in await dead_letters(nats_url) if member["id"].encode() in m.data]


async def test_permanent_failure_is_dead_lettered_and_the_rest_keep_flowing(system, nats_url):
    FAULTS.fail_times["Hoàng Luôn Hỏng"] = 10**6
    broken = await create_member(system, "Hoàng Luôn Hỏng")
    healthy = await create_member(system, "Vũ Bình Thường")
    await eventually(lambda: effects(system, healthy["id"]))

    async def dead():
        return [m for m in await dead_letters(nats_url) if broken["id"].encode() in m.data]
    (letter,) = await eventually(dead, timeout=20)
    assert FAULTS.calls["Hoàng Luôn Hỏng"] == 3  # max_deliver
    assert letter.subject == "sotay.dlq.probe-members"
    assert letter.headers["Sotay-Dlq-Consumer"] == "probe-members"
    assert letter.headers["Sotay-Dlq-Subject"] == "sotay.members.member_registered.ba-dinh"
    assert "injected failure" in letter.headers["Sotay-Dlq-Reason"]
    assert letter.headers["Sotay-Dlq-Deliveries"] == "3"
    assert letter.headers["Sotay-Dlq-Original-Msg-Id"] == orjson.loads(letter.data)["id"]
    assert "traceparent" in letter.headers  # the original headers travel along
    assert await effects(system, broken["id"]) == []


async def test_malformed_message_is_dead_lettered_at_once_without_blocking(system, nats_url):
    js = system.runtimes["members"].context.js
    await js.publish("sotay.members.member_registered.ba-dinh", b"{not json", headers={"Nats-Msg-Id": "garbage-1"})
    after = await create_member(system, "Ngô Sau Rác")
    await eventually(lambda: effects(system, after["id"]))

    async def dead():
        return [m for m in await dead_letters(nats_url) if m.data == b"{not json"]
    (letter,) = await eventually(dead)
    assert letter.headers["Sotay-Dlq-Reason"].startswith("malformed envelope")
    assert letter.headers["Sotay-Dlq-Deliveries"] == "1"


async def test_another_version_of_a_followed_event_is_dead_lettered_not_dropped(system, nats_url):
    """A MemberRegistered of a version this consumer cannot read (a v3, from a members replica
    already ahead) used to be acknowledged and left: its member never reached it. It goes to the
    dead letters with the reason; an event the consumer does not follow at all is still left in
    silence. (A v1 is read as a v2: tests/integration/test_event_versions.py.)"""
    js = system.runtimes["members"].context.js

    def envelope(event_type: str) -> dict:
        return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "sotay/members", "type": event_type,
                "subject": str(uuid.uuid4()), "time": "2026-12-07T00:00:00Z", "datacontenttype": "application/json",
                "orgunit": "bd-g1-c1", "data": {"member_id": "x"}}
    old, other = envelope("sotay.members.MemberRegistered.v3"), envelope("sotay.members.NothingFollowed.v1")
    for event in (old, other):
        await js.publish("sotay.members.member_registered.ba-dinh", orjson.dumps(event),
                         headers={"Nats-Msg-Id": event["id"]})
    after = await create_member(system, "Đinh Sau Bản Cũ")
    await eventually(lambda: effects(system, after["id"]))

    async def dead():  # by id, read from the bytes (other tests' letters include one that is no JSON)
        return [m for m in await dead_letters(nats_url) if old["id"].encode() in m.data or other["id"].encode() in m.data]
    (letter,) = await eventually(dead)
    assert orjson.loads(letter.data)["id"] == old["id"]
    reason = letter.headers["Sotay-Dlq-Reason"]
    assert "sotay.members.MemberRegistered.v3: a version this consumer does not read" in reason, reason
    assert "sotay.members.MemberRegistered.v2" in reason, reason
    assert letter.headers["Sotay-Dlq-Deliveries"] == "1"


async def test_one_trace_runs_from_the_request_to_the_consumer(system):
    SPANS.clear()
    member = await create_member(system, "Bùi Theo Dấu")
    await eventually(lambda: effects(system, member["id"]))

    def spans(prefix):
        return [s for s in SPANS.get_finished_spans() if s.name.startswith(prefix)]
    request = [s for s in spans("POST /api/members/v1/members")]
    assert len(request) == 1
    trace_id = request[0].context.trace_id
    consumed = await eventually(lambda: asyncio.sleep(0, result=[
        s for s in spans("consume sotay.members.MemberRegistered") if s.context.trace_id == trace_id]))
    assert consumed[0].attributes["messaging.consumer.group.name"] == "probe-members"
    assert consumed[0].parent is not None



async def test_relay_replicas_elect_one_leader_and_the_standby_takes_over(system, database_url):
    members = system.runtimes["members"]
    await members.stop_relay()
    js, nc = members.context.js, members.context.nc
    replicas = [OutboxRelay(database_url, "members", js, nc, poll_interval=0.1) for _ in range(2)]
    tasks = [asyncio.create_task(r.run()) for r in replicas]
    try:
        first = [probe_event(f"Bản Sao {chr(65 + i)}") for i in range(50)]
        async with members.context.engine.begin() as conn:
            await add_events(conn, "members", first)
        await eventually(lambda: _effects_for(system, {e.envelope["subject"] for e in first}, 50))
        assert sorted(r.is_leader for r in replicas) == [False, True]
        leader = next(i for i, r in enumerate(replicas) if r.is_leader)
        assert replicas[1 - leader].published == 0  # the standby published nothing
        assert replicas[leader].published >= 50

        tasks[leader].cancel()  # the leader dies; its advisory lock goes with its connection
        await asyncio.gather(tasks[leader], return_exceptions=True)
        second = [probe_event(f"Tiếp Quản {chr(65 + i)}") for i in range(50)]
        async with members.context.engine.begin() as conn:
            await add_events(conn, "members", second)
        await eventually(lambda: _effects_for(system, {e.envelope["subject"] for e in second}, 50))
        assert replicas[1 - leader].is_leader and replicas[1 - leader].published >= 50
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        members.start_relay()


async def test_a_changed_consumer_config_is_applied_to_the_existing_durable(system):
    from sotay.kit.consumer import Consumer, consumer_config, ensure_consumer

    js = system.runtimes["probe"].context.js
    consumer = Consumer(name="probe-members", stream="SOTAY_MEMBERS", filter_subject="sotay.members.>")
    await ensure_consumer(js, consumer, consumer_config(consumer, ack_wait=7.0, max_ack_pending=123))
    info = await js.consumer_info("SOTAY_MEMBERS", "probe-members")
    assert (info.config.ack_wait, info.config.max_ack_pending) == (7.0, 123)
