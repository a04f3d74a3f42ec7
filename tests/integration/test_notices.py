"""Members' notifications on real NATS and PostgreSQL, pushed to a local push service standing in
for the browser maker's: built from events (an article published, a meeting called and reminded,
a registration approved or rejected), read in the inbox, pushed encrypted and signed, each kind
as the member chose; a push carries no personal data; a device the push service forgot is dropped."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import nats
import pytest
from sqlalchemy import text

import services.content
import services.members
from services.members.adapters.import_files import write_csv
from sotay.contracts.identity import (
    AccountApproved,
    AccountRejected,
    RegistrationSubmitted,
)
from sotay.kit.events import make_message
from tests.integration.test_content import published
from tests.support.push import vapid_claims
from tests.support.system import eventually, make_settings, running_system

pytestmark = pytest.mark.integration

API = "/api/content/v1"
MEMBERS = [("030000001", "Nguyễn Văn An", "hk-g1-c1"), ("030000002", "Trần Thị Bình", "hk-g1-c1"),
           ("030000003", "Lê Văn Cường", "hk-g1-c2")]
PERSONAL = ["Nguyễn", "Trần", "030000001", "030000002", "hk-g1-c1", "Hội trường"]


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url, push_service):
    # The local push service is on loopback: trusted, and named as a push host, for these tests only.
    settings = make_settings(data_dir, push_hosts="127.0.0.1,fcm.googleapis.com", push_allow_networks="127.0.0.1/32")
    definitions = [services.members.definition(), services.content.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        tree = [{"code": "city", "name": "Thành phố Hà Nội", "kind": "city"},
                {"code": "hk", "name": "Đảng bộ quận Hoàn Kiếm", "kind": "committee", "parent": "city", "wave": 1},
                {"code": "hk-g1", "name": "Đảng bộ phường Hàng Bạc", "kind": "grassroots", "parent": "hk"},
                {"code": "hk-g1-c1", "name": "Chi bộ 1", "kind": "cell", "parent": "hk-g1"},
                {"code": "hk-g1-c2", "name": "Chi bộ 2", "kind": "cell", "parent": "hk-g1"}]
        for unit in tree:
            assert (await system.client.post("/api/members/v1/org-units", json=unit, headers=admin)).status_code == 201
        rows = [{"party_card_no": card, "full_name": name, "date_of_birth": "1950-03-02", "gender": "",
                 "citizen_id": "", "phone": "", "unit": cell, "status": "active", "eligible": "true",
                 "ineligible_reason": "", "admitted_on": "", "official_on": ""} for card, name, cell in MEMBERS]
        imported = await system.client.post("/api/members/v1/imports", params={"wait": "true"},
                                            files={"file": ("m.csv", write_csv(rows), "text/csv")}, headers=admin)
        assert imported.json()["imported"] == len(MEMBERS), imported.text
        await eventually(lambda: holds(system, len(MEMBERS), "SELECT count(*) FROM readers"), timeout=30)
        yield system


async def scalar(system, sql: str, **params):
    async with system.runtimes["content"].context.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).scalar()


async def holds(system, expected, sql: str, **params) -> bool:
    return await scalar(system, sql, **params) == expected


def member(system, card: str) -> dict[str, str]:
    cell = next(c for k, _, c in MEMBERS if k == card)
    return system.auth("member", cell, card=card, subject=f"account-{card}")


async def inbox(system, headers) -> dict:
    answer = await system.client.get(f"{API}/notices", headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json()


async def publish(nats_url: str, event, aggregate: str) -> None:
    message = make_message(event, aggregate_id=aggregate, committee="hk")
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(message.subject, message.body(), headers={"Nats-Msg-Id": str(message.id)})
    finally:
        await nc.close()


async def test_an_article_is_told_to_its_audience_in_the_inbox_and_by_an_encrypted_signed_push(system,
                                                                                              push_service):
    c = system.client
    an, cuong = member(system, "030000001"), member(system, "030000003")
    key = (await c.get(f"{API}/push/key")).json()["public_key"]
    an_phone, cuong_phone = push_service.browser(), push_service.browser()
    for who, phone in ((an, an_phone), (cuong, cuong_phone)):
        subscribed = await c.post(f"{API}/push-subscriptions", json=phone.subscription(), headers=who)
        assert subscribed.status_code == 201, subscribed.text

    article = await published(system, title="Nghị quyết về chuyển đổi số của chi bộ", audience=["hk-g1-c1"])

    await eventually(lambda: _has(inbox(system, an), article["id"]), timeout=15)
    notices = await inbox(system, an)
    told = next(n for n in notices["items"] if n["ref"] == article["id"])
    assert told["kind"] == "article" and told["title"] == article["title"] and told["unread"] is True
    assert notices["unseen"] >= 1
    assert not any(n["ref"] == article["id"] for n in (await inbox(system, cuong))["items"]), "not his cell"

    pushes = await eventually(lambda: push_service.pushes_to(an_phone), timeout=15)
    assert len(pushes) == 1
    payload = an_phone.read(pushes[0])
    assert payload == {"id": told["id"], "kind": "article", "ref": article["id"], "title": article["title"]}
    raw = pushes[0].body.decode("latin-1")
    assert not any(word in raw or word in str(payload) for word in PERSONAL), "a push carries nothing personal"
    claims = vapid_claims(pushes[0], key)
    assert claims["aud"] == push_service.origin and claims["sub"].startswith("mailto:")
    assert int(pushes[0].headers["ttl"]) > 0
    assert push_service.pushes_to(cuong_phone) == []

    # Seen: nothing left unseen up to it.
    assert (await c.post(f"{API}/notices/seen", json={"through": told["id"]}, headers=an)).status_code == 200
    assert not next(n for n in (await inbox(system, an))["items"] if n["id"] == told["id"])["unread"]

    # Retracted: no longer in the inbox.
    chief = system.auth("chief_editor", "city", subject="chief-city")
    assert (await c.post(f"{API}/articles/{article['id']}/retract", json={"reason": "Đăng nhầm"},
                         headers=chief)).status_code == 200
    await eventually(lambda: _has(inbox(system, an), article["id"], present=False), timeout=15)


async def _has(pending, ref: str, present: bool = True) -> bool:
    return any(n["ref"] == ref for n in (await pending)["items"]) == present


async def test_a_member_who_turns_articles_off_is_neither_shown_nor_pushed_them(system, push_service):
    c = system.client
    binh = member(system, "030000002")
    phone = push_service.browser()
    assert (await c.post(f"{API}/push-subscriptions", json=phone.subscription(), headers=binh)).status_code == 201
    assert (await c.get(f"{API}/notices/choices", headers=binh)).json() == {
        "articles": True, "meetings": True, "account": True}
    chosen = await c.put(f"{API}/notices/choices", json={"articles": False, "meetings": True, "account": True},
                         headers=binh)
    assert chosen.status_code == 200 and chosen.json()["articles"] is False

    article = await published(system, title="Thông báo lịch tiếp dân tháng 12", audience=["hk"])
    an = member(system, "030000001")
    await eventually(lambda: _has(inbox(system, an), article["id"]), timeout=15)
    await eventually(lambda: holds(system, "done", "SELECT push_state FROM notices WHERE ref = :r",
                                   r=article["id"]), timeout=15)
    assert not any(n["kind"] == "article" for n in (await inbox(system, binh))["items"])
    assert push_service.pushes_to(phone) == []


async def test_a_meeting_is_told_when_called_and_reminded_the_day_before(system, push_service):
    c = system.client
    secretary = system.auth("cell_secretary", "hk-g1-c2", subject="secretary-c2")
    cuong = member(system, "030000003")
    phone = push_service.browser()
    assert (await c.post(f"{API}/push-subscriptions", json=phone.subscription(), headers=cuong)).status_code == 201
    starts = (datetime.now(UTC) + timedelta(hours=30)).isoformat()
    called = await c.post(f"{API}/meetings", headers=secretary, json={
        "cell": "hk-g1-c2", "starts_at": starts, "place": "Hội trường tổ dân phố 5", "agenda": "Sinh hoạt tháng 12"})
    assert called.status_code == 201, called.text
    meeting_id = called.json()["id"]
    await eventually(lambda: _has(inbox(system, cuong), meeting_id), timeout=15)
    told = next(n for n in (await inbox(system, cuong))["items"] if n["ref"] == meeting_id)
    assert told["kind"] == "meeting" and told["details"]["place"] == "Hội trường tổ dân phố 5"
    pushes = await eventually(lambda: push_service.pushes_to(phone), timeout=15)
    assert phone.read(pushes[0]) == {"id": told["id"], "kind": "meeting", "ref": meeting_id}, "no place, no cell"

    # A day later: the meeting starts within 24 hours, and was called before that (as if 2 days ago).
    async with system.runtimes["content"].context.engine.begin() as conn:
        await conn.execute(text("UPDATE meetings SET starts_at = now() + interval '20 hours', "
                                "created_at = now() - interval '2 days' WHERE id = :id"), {"id": meeting_id})
    await eventually(lambda: len(push_service.pushes_to(phone)) == 2, timeout=15)
    kinds = [n["kind"] for n in (await inbox(system, cuong))["items"] if n["ref"] == meeting_id]
    assert sorted(kinds) == ["meeting", "meeting_reminder"]
    assert phone.read(push_service.pushes_to(phone)[1])["kind"] == "meeting_reminder"
    await eventually(lambda: holds(system, 0, "SELECT count(*) FROM notices WHERE push_state = 'due'"))
    assert len(push_service.pushes_to(phone)) == 2, "reminded once"


async def test_a_registrant_is_told_of_the_decision_on_the_device_they_registered_from(system, push_service,
                                                                                        nats_url):
    c = system.client
    an_member = await scalar(system, "SELECT CAST(member_id AS text) FROM readers WHERE party_card_no = '030000001'")
    approved, rejected, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for registration in (approved, rejected):
        await publish(nats_url, RegistrationSubmitted(registration_id=str(registration), platform="mobile",
                                                      match_result="matched", match_reasons=[], member_id=None,
                                                      unit="hk-g1-c1"), str(registration))
    await eventually(lambda: holds(system, 2, "SELECT count(*) FROM pending_registrations"), timeout=15)

    waiting, refused = push_service.browser(), push_service.browser()
    for registration, phone in ((approved, waiting), (rejected, refused)):
        answer = await c.post(f"{API}/registrations/{registration}/push-subscriptions", json=phone.subscription())
        assert answer.status_code == 201, answer.text
    stranger = await c.post(f"{API}/registrations/{unknown}/push-subscriptions",
                            json=push_service.browser().subscription())
    assert stranger.status_code == 404 and stranger.json()["code"] == "registration_not_found"

    await publish(nats_url, AccountApproved(account_id="account-new-an", registration_id=str(approved),
                                            member_id=an_member, unit="hk-g1-c1", platform="mobile"), "account-new-an")
    await publish(nats_url, AccountRejected(registration_id=str(rejected), member_id=None, unit="hk-g1-c1",
                                            platform="web", reason="Không khớp ngày sinh"), str(rejected))
    told = await eventually(lambda: push_service.pushes_to(waiting), timeout=15)
    assert waiting.read(told[0])["kind"] == "account_approved"
    told = await eventually(lambda: push_service.pushes_to(refused), timeout=15)
    payload = refused.read(told[0])
    assert payload["kind"] == "account_rejected" and "Không khớp" not in str(payload), "the reason is not pushed"

    # The approved registrant's device is now the account's; the rejected one's is forgotten.
    new_account = system.auth("member", "hk-g1-c1", card="030000001", subject="account-new-an")
    assert [n["kind"] for n in (await inbox(system, new_account))["items"] if n["kind"].startswith("account")] == [
        "account_approved"]
    assert await scalar(system, "SELECT account_id FROM push_subscriptions WHERE endpoint = :e",
                        e=waiting.endpoint) == "account-new-an"
    await eventually(lambda: holds(system, 0, "SELECT count(*) FROM push_subscriptions WHERE endpoint = :e",
                                   e=refused.endpoint), timeout=15)
    # Decided: the registration takes no more devices.
    late = await c.post(f"{API}/registrations/{approved}/push-subscriptions", json=push_service.browser().subscription())
    assert late.status_code == 404


async def test_a_device_the_push_service_forgot_is_dropped_and_hostile_subscriptions_are_refused(system,
                                                                                                  push_service):
    c = system.client
    an = member(system, "030000001")
    forgotten = push_service.browser()
    push_service.answers[forgotten.endpoint.removeprefix(push_service.origin)] = 410
    assert (await c.post(f"{API}/push-subscriptions", json=forgotten.subscription(), headers=an)).status_code == 201
    await published(system, title="Tin vắn", audience=["hk-g1-c1"])
    await eventually(lambda: push_service.pushes_to(forgotten), timeout=15)
    await eventually(lambda: holds(system, 0, "SELECT count(*) FROM push_subscriptions WHERE endpoint = :e",
                                   e=forgotten.endpoint), timeout=15)

    good = push_service.browser().subscription()
    hostile = {
        "http://127.0.0.2:5432/": "endpoint",          # another loopback address: PostgreSQL's port
        "http://169.254.169.254/latest/meta-data/": "endpoint",  # the cloud's metadata service
        "http://fcm.googleapis.com/fcm/send/x": "endpoint",      # a push service, not over https
        "https://push.attacker.example/x": "endpoint",           # not a push service we send to
    }
    for endpoint, field in hostile.items():
        answer = await c.post(f"{API}/push-subscriptions", json={**good, "endpoint": endpoint}, headers=an)
        assert answer.status_code == 422, (endpoint, answer.text)
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    bad_key = {**good, "keys": {**good["keys"], "p256dh": "BA" + "A" * 85}}  # not on the curve
    answer = await c.post(f"{API}/push-subscriptions", json=bad_key, headers=an)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "keys.p256dh"
    assert (await c.post(f"{API}/push-subscriptions", json=good)).status_code == 401
    assert await scalar(system, "SELECT count(*) FROM push_subscriptions WHERE endpoint LIKE '%attacker%' "
                                "OR endpoint LIKE '%169.254%' OR endpoint LIKE '%127.0.0.2%'") == 0

    # A device is ended by its owner only; another member signed in on it takes it with its keys, and
    # no one takes it without them.
    mine = (await c.post(f"{API}/push-subscriptions", json=good, headers=an)).json()["id"]
    binh = member(system, "030000002")
    other_keys = {**good, "keys": push_service.browser().subscription()["keys"]}
    taken = await c.post(f"{API}/push-subscriptions", json=other_keys, headers=binh)
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "endpoint"
    assert await scalar(system, "SELECT account_id FROM push_subscriptions WHERE id = :i", i=mine) == "account-030000001"
    assert (await c.delete(f"{API}/push-subscriptions/{mine}", headers=binh)).status_code == 404
    assert (await c.delete(f"{API}/push-subscriptions/{mine}", headers=an)).json() == {"id": mine, "active": False}
