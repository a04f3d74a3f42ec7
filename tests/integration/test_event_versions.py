"""Version 1 of the member events, read as version 2 (docs/events.md, "Versions"): a v1 event from
a members replica older than issue 19 (during a roll, or replayed from an old stream) reaches
identity, content and metrics as if it were a v2 already opened, so its member can register and
read; the webhook bridge, which passes events on as they came, dead-letters it instead of sending
the person in clear to an outside system. A v1 that cannot be read, and a version ahead, are
dead-lettered with their reason.

Before this, every consumer dead-lettered v1 ("a version this consumer does not read"): its member
never reached the replicas until members republished them all."""

from __future__ import annotations

import uuid

import nats
import orjson
import pytest
from sqlalchemy import text

import services.content
import services.identity
import services.members
import services.metrics
import services.webhooks
from sotay.contracts.fields import normalise_phone
from tests.support.system import CONSENT, create_org_tree, eventually, make_settings, running_system

pytestmark = pytest.mark.integration

CARD, NAME, BORN, PHONE = "0100009901", "Phùng Thị Bản Cũ", "1968-09-02", "0912009901"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition(), services.webhooks.definition()]
    async with running_system(definitions, make_settings(data_dir), nats_url, database_url) as system:
        await create_org_tree(system.client, ("ba-dinh",), system.auth("city_admin"))
        yield system


def v1_registered(system, member_id: str, **data) -> dict:
    """A MemberRegistered as members published it before issue 19: the person in clear, the citizen
    ID's and the phone's keyed hashes (of the normalised values), an integer sequence."""
    pii_hash = system.runtimes["identity"].context.pii_hash
    payload = {"member_id": member_id, "party_card_no": CARD, "full_name": NAME, "date_of_birth": BORN,
               "gender": "female", "unit": "ba-dinh-g1-c1",
               "unit_path": ["city", "ba-dinh", "ba-dinh-g1", "ba-dinh-g1-c1"],
               "status": "active", "eligible": True, "ineligible_reason": None, "admitted_on": "1995-05-19",
               "official_on": "1996-05-19", "citizen_id_hash": pii_hash("001168009901"),
               "phone_hash": pii_hash(normalise_phone(PHONE)), "phone_tail": PHONE[-3:], "source": "import"} | data
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "sotay/members",
            "type": "sotay.members.MemberRegistered.v1", "subject": member_id, "sequence": 1,
            "time": "2026-06-01T08:00:00Z", "datacontenttype": "application/json", "orgunit": "ba-dinh-g1-c1",
            "data": {k: v for k, v in payload.items() if v is not ...}}


async def publish(system, envelope: dict) -> None:
    js = system.runtimes["members"].context.js
    await js.publish("sotay.members.member_registered.ba-dinh", orjson.dumps(envelope),
                     headers={"Nats-Msg-Id": envelope["id"]})


async def dead_letters(nats_url: str, event_id: str) -> dict[str, str]:
    """Consumer → reason, of the dead letters of one event."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("sotay.dlq.>", stream="SOTAY_DLQ")
        try:
            letters = await sub.fetch(batch=200, timeout=1)
        except TimeoutError:
            letters = []
        return {m.headers["Sotay-Dlq-Consumer"]: m.headers["Sotay-Dlq-Reason"] for m in letters
                if orjson.loads(m.data).get("id") == event_id}
    finally:
        await nc.close()


async def letters_from(nats_url: str, event_id: str, consumers: set[str]) -> dict[str, str]:
    """The dead letters of one event, once each of these consumers has sent its own."""
    async def arrived():
        letters = await dead_letters(nats_url, event_id)
        return letters if consumers <= set(letters) else None
    return await eventually(arrived, timeout=20)


async def fetch_one(system, service: str, sql: str, **params):
    async with system.runtimes[service].context.engine.connect() as db:
        return (await db.execute(text(sql), params)).mappings().first()


async def test_a_v1_member_reaches_every_replica_and_can_register_and_read(system, nats_url):
    member_id = str(uuid.uuid4())
    before = (await system.client.get("/api/metrics/v1/rollout", params={"unit": "city"},
                                      headers=system.auth("city_admin"))).json()["members_total"]
    event = v1_registered(system, member_id)
    await publish(system, event)

    async def in_identity():
        return await fetch_one(system, "identity", "SELECT * FROM registry_members WHERE member_id = :m", m=member_id)
    await eventually(in_identity, timeout=20)
    reader = await eventually(lambda: fetch_one(system, "content", "SELECT party_card_no, full_name, unit "
                                                "FROM readers WHERE member_id = :m", m=member_id), timeout=20)
    assert dict(reader) == {"party_card_no": CARD, "full_name": NAME, "unit": "ba-dinh-g1-c1"}

    async def counted():
        city = (await system.client.get("/api/metrics/v1/rollout", params={"unit": "city"},
                                         headers=system.auth("city_admin"))).json()
        return city["members_total"] == before + 1
    await eventually(counted, timeout=20)

    # Identity matches a registration on the hashes made from v1's name and date of birth, as on v2's.
    registered = await system.client.post("/api/identity/v1/registrations", json={
        "party_card_no": CARD, "full_name": NAME, "date_of_birth": BORN, "phone": PHONE,
        "password": "Chi bo so 1 vung manh", "platform": "mobile", "consent": CONSENT})
    assert registered.status_code == 202, registered.text
    row = await fetch_one(system, "identity", "SELECT match_result, match_reasons FROM registrations WHERE id = :i",
                          i=registered.json()["id"])
    assert row["match_result"] == "matched", dict(row)

    # The webhook bridge sends events on as they came: the v1, with the person in clear, is not sent
    # but dead-lettered with its reason.
    letters = await letters_from(nats_url, event["id"], {"webhooks-members"})
    assert set(letters) == {"webhooks-members"}, letters
    assert "a version this consumer does not read" in letters["webhooks-members"]


async def test_a_v1_that_cannot_be_read_and_a_version_ahead_are_dead_lettered_with_their_reason(system, nats_url):
    broken = v1_registered(system, str(uuid.uuid4()), full_name=...)  # no name: not a v1 members ever sent
    ahead = v1_registered(system, str(uuid.uuid4())) | {"type": "sotay.members.MemberRegistered.v3"}
    for event in (broken, ahead):
        await publish(system, event)
    readers = {"identity-registry", "content-registry", "metrics-registry"}
    letters = await letters_from(nats_url, broken["id"], readers)
    for consumer in readers:
        assert "MemberRegistered.v1 cannot be read as sotay.members.MemberRegistered.v2" in letters[consumer], letters
        assert "full_name" in letters[consumer] and NAME not in letters[consumer]
    ahead_letters = await letters_from(nats_url, ahead["id"], readers | {"webhooks-members"})
    for consumer in readers | {"webhooks-members"}:
        assert "MemberRegistered.v3: a version this consumer does not read" in ahead_letters[consumer], ahead_letters


async def test_a_replay_of_the_streams_counts_the_v1_member_as_the_live_consumer_did(system, nats_url, database_url):
    """`sotay metrics verify` (the replay's code on a scratch schema) reads the streams as the live
    consumer does: the v1 member counts, the unreadable v1 and the v3 are left out."""
    from services.metrics.handlers import rebuild

    nc = await nats.connect(nats_url)
    try:
        stats, differences = await rebuild.verify(database_url, nc.jetstream())
    finally:
        await nc.close()
    assert differences == [] and stats.applied > 0
