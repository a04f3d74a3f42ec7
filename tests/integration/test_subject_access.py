"""A member asks what the system holds about them (a data subject's access request, Law
91/2025/QH15; issue 19): each service answers `GET /me/data` with its part, on real NATS and
PostgreSQL: the registry's record, history, corrections and who read the record (role and unit,
not the staff person); identity's account, registrations and sign-ins without any secret;
content's reads, feedback, meeting answers, notification choices and devices; metrics' rows
about them. Nothing of another member, and the registry's part is audited as the member's own read."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import text

from tests.browser.conftest import handbook_system, publish_article
from tests.browser.test_handbook import member_account
from tests.support.push import a_device
from tests.support.system import eventually

pytestmark = pytest.mark.integration

AN, BINH = "010000001", "010000002"


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    async with handbook_system(data_dir, nats_url, database_url) as system:
        for card, name in ((AN, "Nguyễn Văn An"), (BINH, "Trần Thị Bình")):
            await member_account(system, card, name)
        yield system


async def account_of(system, card: str) -> str:
    async with system.runtimes["identity"].context.engine.connect() as db:
        return str((await db.execute(text("SELECT id FROM accounts WHERE party_card_no = :c"), {"c": card})).scalar())


async def member_auth(system, card: str) -> dict[str, str]:
    return system.auth("member", "ba-dinh-g1-c1", card=card, subject=await account_of(system, card))


async def test_a_member_gets_every_services_data_about_them_and_nothing_of_anyone_else(system):
    c = system.client
    an, binh = await member_auth(system, AN), await member_auth(system, BINH)
    aid = await publish_article(system, "Nghị quyết về chuyển đổi số", "Tóm tắt.", "Nội dung.")
    await eventually(lambda: _in_feed(c, an, aid), timeout=15)
    assert (await c.post(f"/api/content/v1/articles/{aid}/read", headers=an)).status_code == 200
    assert (await c.post(f"/api/content/v1/articles/{aid}/feedback", json={"body": "Tôi đồng ý với nghị quyết."},
                         headers=an)).status_code == 201
    assert (await c.post("/api/content/v1/push-subscriptions", json=a_device(), headers=an)).status_code == 201
    # Bình, of the same cell, reads and writes too: none of it is An's.
    assert (await c.post(f"/api/content/v1/articles/{aid}/feedback", json={"body": "Ý kiến riêng của chị Bình."},
                         headers=binh)).status_code == 201
    member_id = (await c.get("/api/members/v1/members/me", headers=an)).json()["id"]
    correction = await c.post(f"/api/members/v1/members/{member_id}/corrections",
                              json={"changes": {"phone": "0912000111"}, "note": "Số mới"}, headers=an)
    assert correction.status_code == 201, correction.text
    # A unit admin opens An's record: An is told a unit admin of Quận Ba Đình read it, not who.
    admin = system.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh")
    assert (await c.get(f"/api/members/v1/members/{member_id}", headers=admin)).status_code == 200
    await eventually(lambda: _metrics_knows(c, an), timeout=15)

    parts = {}
    for service in ("members", "identity", "content", "metrics"):
        answer = await c.get(f"/api/{service}/v1/me/data", headers=an)
        assert answer.status_code == 200, (service, answer.text)
        assert answer.json()["service"] == service
        parts[service] = answer.json()["parts"]
    everything = orjson.dumps(parts).decode()

    record = parts["members"]["record"][0]
    assert record["party_card_no"] == AN and record["full_name"] == "Nguyễn Văn An"
    assert [c["changes"] for c in parts["members"]["corrections"]] == [{"phone": "0912000111"}]
    read = next(r for r in parts["members"]["reads_of_your_record"] if r["actor_role"] == "unit_admin")
    assert read["actor_unit_name"] == "Quận Ba Đình" and read["what"] == "record"
    assert "admin-ba-dinh" not in everything, "the staff person stays out"

    assert parts["identity"]["account"][0]["party_card_no"] == AN
    assert [r["status"] for r in parts["identity"]["registrations"]] == ["approved"]
    assert [(c["action"], c["purpose"]) for c in parts["identity"]["consents"]] == [("given", "account")]
    assert "address_hash" not in parts["identity"]["consents"][0]
    assert "password_hash" not in everything and "$argon2" not in everything, "no secret, not even hashed"

    assert [r["article_id"] for r in parts["content"]["reads"]] == [aid]
    assert [f["body"] for f in parts["content"]["feedback"]] == ["Tôi đồng ý với nghị quyết."]
    assert [d["push_service"] for d in parts["content"]["push_devices"]] == ["fcm.googleapis.com"]
    assert "fcm/send" not in everything, "a device's endpoint is a capability: its host only"
    assert parts["content"]["where_you_sit"][0]["unit"] == "ba-dinh-g1-c1"

    assert parts["metrics"]["registrations"][0]["status"] == "approved"
    assert parts["metrics"]["member"][0]["member_id"] == member_id

    assert BINH not in everything and "Trần Thị Bình" not in everything and "chị Bình" not in everything

    async with system.runtimes["members"].context.engine.connect() as db:
        own = (await db.execute(text("SELECT count(*) FROM record_reads WHERE what = 'self' AND :m = ANY(member_ids)"),
                                {"m": member_id})).scalar()
    assert own >= 1, "the member's own read is audited"


async def test_a_token_without_an_account_gets_nothing_and_no_token_is_refused(system):
    c = system.client
    staff = system.auth("city_admin", "city", subject="not-an-account")
    for service in ("identity", "content", "metrics"):
        answer = await c.get(f"/api/{service}/v1/me/data", headers=staff)
        assert answer.status_code == 200 and all(rows == [] for rows in answer.json()["parts"].values()), service
    assert (await c.get("/api/members/v1/me/data", headers=staff)).status_code == 403  # no member's card
    for service in ("members", "identity", "content", "metrics"):
        assert (await c.get(f"/api/{service}/v1/me/data")).status_code == 401


async def _in_feed(c, headers, aid: str) -> bool:
    return any(a["id"] == aid for a in (await c.get("/api/content/v1/feed", headers=headers)).json()["items"])


async def _metrics_knows(c, headers) -> bool:
    answer = await c.get("/api/metrics/v1/me/data", headers=headers)
    return answer.status_code == 200 and bool(answer.json()["parts"]["registrations"])
