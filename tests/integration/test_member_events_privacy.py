"""What member events carry of a person (issue 19), on real NATS and PostgreSQL: the person sealed
under the member's own key, nothing of them in clear in the stream; identity's replica holding only
keyed hashes and still matching; a restriction honoured by every replica and lifted again; a key
destroyed by retention leaving every earlier event's part unopenable (crypto-shredding); a sealed
part moved onto another member's event dead-lettered."""

from __future__ import annotations

import json

import nats
import pytest
from sqlalchemy import text

import services.content
import services.identity
import services.members
import services.metrics
from services.members.adapters import registry
from services.members.handlers import retention as members_retention
from sotay.kit.consumer import DLQ_HEADERS
from sotay.kit.events import make_message
from sotay.kit.member_keys import MemberKeys, open_events
from sotay.contracts.members import MemberUpdated
from tests.support.system import (
    CONSENT, create_org_tree, eventually, identity_holds_registry, import_registry, make_settings, registry_row,
    running_system,
)

pytestmark = pytest.mark.integration

PASSWORD = "Chi bo so 1 vung manh"
AN, BINH, CUONG = "0100000011", "0100000012", "0100000013"
NAMES = {AN: "Nguyễn Văn An", BINH: "Trần Thị Bình", CUONG: "Lê Văn Cường"}
BORN = "1958-03-04"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition(),
                   services.metrics.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ["ba-dinh"], admin)
        await import_registry(system.client, [registry_row(card, name, "ba-dinh-g1-c1", born=BORN)
                                              for card, name in NAMES.items()], admin)
        await identity_holds_registry(system, 3)
        yield system


async def member_id(system, card: str):
    async with system.runtimes["members"].context.engine.connect() as db:
        return str(await registry.member_id_by_card(db, card))


async def stream_events(nats_url: str, member: str) -> list[dict]:
    """Every member event of `member` in SOTAY_MEMBERS, as a district system receives them."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe("sotay.members.>", ordered_consumer=True)
        found = []
        info = await js.stream_info("SOTAY_MEMBERS")
        for _ in range(info.state.messages):
            msg = await sub.next_msg(timeout=5)
            envelope = json.loads(msg.data)
            if envelope["data"].get("member_id") == member:
                found.append(envelope)
        await sub.unsubscribe()
        return found
    finally:
        await nc.close()


async def test_the_stream_carries_nothing_of_the_person_in_clear(system, nats_url):
    mid = await member_id(system, AN)
    events = await stream_events(nats_url, mid)
    assert [e["type"] for e in events] == ["sotay.members.MemberRegistered.v2"]
    raw = json.dumps(events, ensure_ascii=False)
    for value in (AN, NAMES[AN], "Nguyen", BORN, "0900000011", "+84900000011"):
        assert value not in raw, value
    data = events[0]["data"]
    assert set(data) == {"member_id", "unit", "unit_path", "status", "eligible", "ineligible_reason", "restricted",
                         "temporary_unit", "temporary_until", "personal", "source"}
    # With the member's key (members, identity and content hold what opens it) the person is there.
    await open_events(system.runtimes["identity"].context.member_keys, events)
    person = events[0]["data"]["personal"]
    assert person["party_card_no"] == AN and person["full_name"] == NAMES[AN]
    assert "date_of_birth" not in person and len(person["date_of_birth_hash"]) == 64


async def test_identity_keeps_keyed_hashes_only_and_still_matches(system):
    async with system.runtimes["identity"].context.engine.connect() as db:
        columns = set((await db.execute(text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'identity' "
            "AND table_name = 'registry_members'"))).scalars())
        row = (await db.execute(text("SELECT * FROM registry_members WHERE member_id = CAST(:m AS uuid)"),
                                {"m": await member_id(system, BINH)})).mappings().one()
    assert not columns & {"party_card_no", "full_name", "name_folded", "date_of_birth"}
    assert {"card_hash", "name_hash", "dob_hash", "phone_hash"} <= columns
    assert all(len(row[c]) == 64 for c in ("card_hash", "name_hash", "dob_hash", "phone_hash"))
    assert NAMES[BINH] not in json.dumps({k: str(v) for k, v in row.items()}, ensure_ascii=False)

    async def register(born: str) -> dict:
        answer = await system.client.post("/api/identity/v1/registrations", json={
            "party_card_no": BINH, "full_name": "TRAN THI  binh", "date_of_birth": born, "phone": "0900000012",
            "password": PASSWORD, "platform": "web", "consent": CONSENT})
        assert answer.status_code == 202, answer.text
        async with system.runtimes["identity"].context.engine.connect() as db:
            return dict((await db.execute(text(
                "SELECT match_result, match_reasons FROM registrations WHERE id = :i"),
                {"i": answer.json()["id"]})).mappings().one())
    differs = await register("1958-03-05")
    assert differs == {"match_result": "details_differ", "match_reasons": ["differs: date_of_birth"]}
    # Its event tells the district systems that details differ, never which.
    async with system.runtimes["identity"].context.engine.connect() as db:
        said = (await db.execute(text(
            "SELECT body FROM outbox WHERE subject LIKE 'sotay.identity.registration_submitted.%' "
            "ORDER BY position DESC LIMIT 1"))).scalar_one()
    assert json.loads(said)["data"]["match_reasons"] == ["details differ from the registry"]
    assert (await register(BORN))["match_result"] == "matched"  # accents and case aside, by keyed hashes


async def replicas_of(system, mid: str) -> dict:
    async with system.runtimes["identity"].context.engine.connect() as db:
        identity = dict((await db.execute(text(
            "SELECT card_hash, name_hash, dob_hash, phone_hash, phone_tail FROM registry_members "
            "WHERE member_id = CAST(:m AS uuid)"), {"m": mid})).mappings().one())
    async with system.runtimes["content"].context.engine.connect() as db:
        content = dict((await db.execute(text(
            "SELECT party_card_no, full_name, unit FROM readers WHERE member_id = CAST(:m AS uuid)"),
            {"m": mid})).mappings().one())
    figures = (await system.client.get("/api/metrics/v1/rollout", params={"unit": "ba-dinh-g1-c1"},
                                       headers=system.auth("city_admin"))).json()
    return {"identity": identity, "content": content, "members_total": figures["members_total"]}


async def test_a_restriction_is_honoured_by_every_replica_and_lifted_again(system, nats_url):
    mid = await member_id(system, CUONG)
    before = await replicas_of(system, mid)
    assert before["content"]["full_name"] == NAMES[CUONG] and before["identity"]["card_hash"]
    secretary = system.auth("cell_secretary", "ba-dinh-g1-c1")
    refused = await system.client.put(f"/api/members/v1/members/{mid}/restriction",
                                      json={"restricted": True, "reason": "Đồng chí yêu cầu"}, headers=secretary)
    assert refused.status_code == 403  # a registry writer decides it, not a cell secretary
    no_reason = await system.client.put(f"/api/members/v1/members/{mid}/restriction",
                                        json={"restricted": True, "reason": "  "}, headers=system.auth("unit_admin", "ba-dinh"))
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["field"] == "reason"

    restricted = await system.client.put(
        f"/api/members/v1/members/{mid}/restriction",
        json={"restricted": True, "reason": "Đồng chí yêu cầu hạn chế xử lý dữ liệu"},
        headers=system.auth("unit_admin", "ba-dinh"))
    assert restricted.status_code == 200 and restricted.json()["restricted"] is True

    async def honoured():
        now = await replicas_of(system, mid)
        return now if (now["content"]["full_name"] is None and now["identity"]["card_hash"] is None) else None
    now = await eventually(honoured)
    assert now["identity"] == {"card_hash": None, "name_hash": None, "dob_hash": None, "phone_hash": None,
                               "phone_tail": None}
    assert now["content"] == {"party_card_no": None, "full_name": None, "unit": "ba-dinh-g1-c1"}
    assert now["members_total"] == before["members_total"]  # statistics keep counting the member
    last = (await stream_events(nats_url, mid))[-1]
    assert last["type"] == "sotay.members.MemberUpdated.v2" and last["data"]["changed"] == ["restricted"]
    assert last["data"]["restricted"] is True and last["data"]["personal"] is None
    # A registration for the card finds nobody to match while the data is restricted.
    answer = await system.client.post("/api/identity/v1/registrations", json={
        "party_card_no": CUONG, "full_name": NAMES[CUONG], "date_of_birth": BORN, "phone": "0900000013",
        "password": PASSWORD, "platform": "web", "consent": CONSENT})
    async with system.runtimes["identity"].context.engine.connect() as db:
        assert (await db.execute(text("SELECT match_result FROM registrations WHERE id = :i"),
                                 {"i": answer.json()["id"]})).scalar_one() == "not_in_registry"

    lifted = await system.client.put(f"/api/members/v1/members/{mid}/restriction",
                                     json={"restricted": False, "reason": "Đồng chí rút yêu cầu"},
                                     headers=system.auth("unit_admin", "ba-dinh"))
    assert lifted.status_code == 200 and lifted.json()["restricted"] is False

    async def restored():
        now = await replicas_of(system, mid)
        return now["content"]["full_name"] == NAMES[CUONG] and now["identity"] == before["identity"]
    await eventually(restored)
    async with system.runtimes["members"].context.engine.connect() as db:
        actions = [h["action"] for h in await registry.history(db, mid)]
    assert "restricted" in actions and "restriction_lifted" in actions


async def test_retention_destroys_the_key_so_no_earlier_event_opens(system, nats_url):
    mid = await member_id(system, AN)
    members = system.runtimes["members"].context
    await system.client.post(f"/api/members/v1/members/{mid}/status", json={"status": "deceased", "reason": "từ trần"},
                             headers=system.auth("city_admin"))
    async with members.engine.begin() as db:
        await db.execute(text("ALTER TABLE member_history DISABLE TRIGGER member_history_append_only"))
        await db.execute(text("UPDATE member_history SET at = now() - interval '6 years' "
                              "WHERE member_id = CAST(:m AS uuid) AND action = 'status_changed'"), {"m": mid})
        await db.execute(text("ALTER TABLE member_history ENABLE TRIGGER member_history_append_only"))
    earlier = await stream_events(nats_url, mid)
    assert await members_retention.minimise(members, years=5, batch=100) == {"members": 1, "correction_requests": 0}

    # A reader that never saw the key (a replica rebuilt from the stream, a copy of a backup) opens nothing.
    fresh = MemberKeys(members.js, members.member_keys._kek)
    await open_events(fresh, earlier)
    assert [e["data"]["personal"] for e in earlier] == [None] * len(earlier)
    # What members sends from now on opens with the new key: card and name, the dropped values' hashes gone.
    async def published():
        return (await stream_events(nats_url, mid))[len(earlier):]
    later = await eventually(published)
    assert later[-1]["data"]["changed"] == ["citizen_id", "date_of_birth", "phone"]
    await open_events(fresh, later)
    person = later[-1]["data"]["personal"]
    assert person["full_name"] == NAMES[AN] and person["date_of_birth_hash"] is None and person["phone_hash"] is None


async def test_a_sealed_part_moved_onto_another_members_event_is_dead_lettered(system, nats_url):
    """An attacker with publish rights copies Bình's sealed part into an event about Cường: it does
    not open under Cường's id, the message goes to the dead-letter stream, the replica is unchanged."""
    binh, cuong = await member_id(system, BINH), await member_id(system, CUONG)
    taken = (await stream_events(nats_url, binh))[-1]["data"]["personal"]
    before = await replicas_of(system, cuong)
    forged = MemberUpdated(member_id=cuong, unit="ba-dinh-g1-c1", unit_path=["city", "ba-dinh", "ba-dinh-g1",
                                                                          "ba-dinh-g1-c1"],
                           status="active", eligible=True, ineligible_reason=None, personal=taken, changed=["full_name"])
    message = make_message(forged, aggregate_id=cuong, committee="ba-dinh", orgunit="ba-dinh-g1-c1", sequence=10_000)
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.publish(message.subject, message.body(), headers={"Nats-Msg-Id": str(message.id)})
        dlq = await js.subscribe("sotay.dlq.identity-registry", ordered_consumer=True)
        dead = await dlq.next_msg(timeout=20)
        assert "a key this member never had" in dead.headers[DLQ_HEADERS[0]]
        await dlq.unsubscribe()
    finally:
        await nc.close()
    assert (await replicas_of(system, cuong))["identity"] == before["identity"]


async def test_republish_sends_every_member_again_and_the_replicas_take_it(system, nats_url):
    """After the upgrade to version 2 identity's replica held no hashes (migration 008 dropped the
    clear columns): `sotay members republish` sends every snapshot again, each a version newer."""
    from services.members.handlers.republish import republish

    mid = await member_id(system, BINH)
    async with system.runtimes["identity"].context.engine.begin() as db:  # as the migration left it
        await db.execute(text("UPDATE registry_members SET card_hash = NULL, name_hash = NULL, dob_hash = NULL "
                              "WHERE member_id = CAST(:m AS uuid)"), {"m": mid})
    assert await republish(system.runtimes["members"].context, batch=2) == 3

    async def hashed():
        async with system.runtimes["identity"].context.engine.connect() as db:
            return (await db.execute(text("SELECT card_hash IS NOT NULL FROM registry_members "
                                          "WHERE member_id = CAST(:m AS uuid)"), {"m": mid})).scalar_one()
    await eventually(hashed)
    last = (await stream_events(nats_url, mid))[-1]
    assert last["type"] == "sotay.members.MemberUpdated.v2" and last["data"]["changed"] == []
