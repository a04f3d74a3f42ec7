"""The privacy notice and the consent ledger (issue 19, Law 91/2025/QH15) on real NATS and
PostgreSQL: the notice is public, versioned and in both languages; a registration without
consent to the required purpose, or with an outdated notice, is refused and stores nothing; a
consent is recorded with its version, purposes, method, time and client (the address only as
its keyed hash); the events carry ids and codes, no personal data; a member withdraws and gives
again (withdrawing push makes content forget their devices; withdrawing the account is a request
to close it); staff see their own units only, and their reads are audited."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import nats
import orjson
import pytest
from sqlalchemy import text

import services.content
import services.identity
import services.members
from services.identity import domain
from services.identity.adapters.passwords import HASHER
from services.identity.handlers.accounts import create_user
from tests.support.push import a_device
from tests.support.system import (
    create_org_tree,
    eventually,
    identity_holds_registry,
    import_registry,
    make_settings,
    registry_row,
    running_system,
)

pytestmark = pytest.mark.integration

API = "/api/identity/v1"
PASSWORD = "Mat khau dai du manh"
BORN = "1962-03-04"
ANDROID = ("Mozilla/5.0 (Linux; Android 13; SM-A536E) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/120.0.6099.144 Mobile Safari/537.36")
# name, card, cell
PEOPLE = {"an": ("Nguyễn Văn An", "0500000001", "ba-dinh-g1-c1"), "binh": ("Trần Thị Bình", "0500000002", "ba-dinh-g1-c1"),
          "cuc": ("Lê Thị Cúc", "0500000003", "ba-dinh-g1-c2"), "dao": ("Phạm Văn Đào", "0500000004", "ba-dinh-g1-c1"),
          "em": ("Hoàng Thị Em", "0600000001", "tay-ho-g1-c1"), "giap": ("Vũ Văn Giáp", "0500000005", "ba-dinh-g1-c2"),
          "hai": ("Đỗ Văn Hải", "0500000006", "ba-dinh-g1-c2")}


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    definitions = [services.members.definition(), services.identity.definition(), services.content.definition()]
    async with running_system(definitions, make_settings(data_dir), nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, ("ba-dinh", "tay-ho"), admin)
        await import_registry(system.client, [registry_row(card, name, cell, born=BORN)
                                              for name, card, cell in PEOPLE.values()], admin)
        await identity_holds_registry(system, len(PEOPLE))
        yield system


def body(who: str, *, purposes: list[str] | None = None, version: int = 1, platform: str = "web") -> dict:
    name, card, _ = PEOPLE[who]
    return {"party_card_no": card, "full_name": name, "date_of_birth": BORN, "phone": f"09{card[-8:]}",
            "password": PASSWORD, "platform": platform,
            "consent": {"notice_version": version, "purposes": ["account"] if purposes is None else purposes}}


async def register(system, payload: dict, headers: dict | None = None) -> str:
    answer = await system.client.post(f"{API}/registrations", json=payload, headers=headers or {})
    assert answer.status_code == 202, answer.text
    return answer.json()["id"]


async def approved_member(system, who: str) -> tuple[str, dict[str, str]]:
    """`who` registered (the required purpose only) and approved: the account id and its member token."""
    reg_id = await register(system, body(who))
    decided = await system.client.post(f"{API}/registrations/{reg_id}/approve",
                                       headers=system.auth("unit_admin", "ba-dinh"))
    assert decided.status_code == 200, decided.text
    account_id = decided.json()["account_id"]
    _, card, cell = PEOPLE[who]
    return account_id, system.auth("member", cell, subject=account_id, card=card)


async def rows(system, sql: str, **params) -> list[dict]:
    async with system.runtimes["identity"].context.engine.connect() as db:
        return [dict(r) for r in (await db.execute(text(sql), params)).mappings()]


async def published(nats_url: str, event: str, committee: str) -> list[dict]:
    """Every envelope of `event` identity published on `committee`'s subject, as JetStream holds it."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(f"sotay.identity.{event}.{committee}", ordered_consumer=True)
        out = []
        try:
            while True:
                msg = await sub.next_msg(timeout=1)
                out.append(msg.data)
        except nats.errors.TimeoutError:
            pass
        await sub.unsubscribe()
        return [orjson.loads(data) for data in out]
    finally:
        await nc.close()


def personal(who: str) -> list[str]:
    """What an event must never carry of `who`: name, card, phone, date of birth, the client."""
    name, card, _ = PEOPLE[who]
    return [name, card, f"09{card[-8:]}", f"+849{card[-8:]}", BORN, "Chrome", "Android", "127.0.0.1"]


async def test_the_notice_is_public_versioned_and_in_both_languages(system):
    answer = await system.client.get(f"{API}/privacy-notice")
    assert answer.status_code == 200, answer.text
    notice = answer.json()
    assert notice["version"] == 1 and notice["current"] and notice["published_on"] == "2026-01-01"
    assert [(p["code"], p["required"]) for p in notice["purposes"]] == [("account", True), ("push", False)]
    assert [p["name"]["vi"] for p in notice["purposes"]] == ["Tài khoản và Sổ tay", "Thông báo đẩy"]
    assert all(p["label"]["vi"] and p["label"]["en"] and p["name"]["en"] for p in notice["purposes"])
    vi, en = notice["text"]["vi"], notice["text"]["en"]
    for said in ("91/2025/QH15", "356/2025/NĐ-CP", "nước ngoài", "rút lại sự đồng ý", "Quyền của đồng chí",
                 "Giữ thông tin trong bao lâu", "Ai được xem"):
        assert said in vi, said
    for said in ("91/2025/QH15", "abroad", "withdraw", "Your rights", "How long it is kept"):
        assert said in en, said
    assert (await system.client.get(f"{API}/privacy-notice", params={"version": 1})).json() == notice
    missing = await system.client.get(f"{API}/privacy-notice", params={"version": 7})
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"


async def test_a_registration_without_the_required_consent_or_with_an_outdated_notice_is_refused(system, monkeypatch):
    before = await rows(system, "SELECT (SELECT count(*) FROM registrations) AS r, (SELECT count(*) FROM consents) AS c")
    cases = [(body("dao", purposes=[]), "consent.purposes", "must include the required purpose: account"),
             (body("dao", purposes=["push"]), "consent.purposes", "must include the required purpose: account"),
             (body("dao", purposes=["account", "marketing"]), "consent.purposes",
              "is not a purpose of the notice: marketing"),
             (body("dao", version=0), "consent.notice_version", "Input should be greater than or equal to 1")]
    for payload, field, reason in cases:
        refused = await system.client.post(f"{API}/registrations", json=payload)
        assert refused.status_code == 422, refused.text
        assert {"field": field, "reason": reason} in refused.json()["errors"], refused.json()

    # A new version of the notice is published: a registrant who read version 1 reads it again.
    second = domain.Notice(2, date(2026, 6, 1), domain.CURRENT_NOTICE.purposes)
    monkeypatch.setattr(domain, "NOTICES", (*domain.NOTICES, second))
    monkeypatch.setattr(domain, "CURRENT_NOTICE", second)
    outdated = await system.client.post(f"{API}/registrations", json=body("dao"))
    assert outdated.status_code == 422
    assert outdated.json()["errors"] == [
        {"field": "consent.notice_version", "reason": "is not the current notice (version 2): read it again"}]
    assert await rows(system, "SELECT (SELECT count(*) FROM registrations) AS r, "
                              "(SELECT count(*) FROM consents) AS c") == before  # nothing stored


async def test_a_registration_with_design_mds_body_and_no_consent_is_taken_and_asked_for_it_at_sign_in(system):
    """DESIGN.md fixes the registration body without a consent; other clients send just that. It is
    taken, no consent is recorded, and the member is asked for it (their page shows none given)."""
    payload = {k: v for k, v in body("dao").items() if k != "consent"}
    reg_id = await register(system, payload)
    assert await rows(system, "SELECT count(*) AS n FROM consents WHERE registration_id = :r", r=reg_id) == [{"n": 0}]
    decided = await system.client.post(f"{API}/registrations/{reg_id}/approve", headers=system.auth("unit_admin", "ba-dinh"))
    assert decided.status_code == 200, decided.text
    _, card, cell = PEOPLE["dao"]
    dao = system.auth("member", cell, subject=decided.json()["account_id"], card=card)
    mine = (await system.client.get(f"{API}/me/consents", headers=dao)).json()
    assert [(p["code"], p["given"]) for p in mine["purposes"] if p["required"]] == [("account", False)]
    given = await system.client.post(f"{API}/me/consents", headers=dao, json={
        "notice_version": mine["notice_version"], "purposes": ["account"], "platform": "web"})
    assert given.status_code == 200, given.text
    assert [p["given"] for p in given.json()["purposes"] if p["required"]] == [True]


async def test_a_consent_is_recorded_with_its_version_purposes_method_time_and_client(system, nats_url):
    started = datetime.now(UTC)
    reg_id = await register(system, body("an", purposes=["push", "account"], platform="mobile"),
                            headers={"User-Agent": ANDROID})
    ledger = await rows(system, "SELECT * FROM consents WHERE registration_id = :r ORDER BY purpose", r=reg_id)
    assert [(r["purpose"], r["notice_version"], r["action"], r["method"], r["client"]) for r in ledger] == [
        ("account", 1, "given", "mobile", "Chrome 120, Android"), ("push", 1, "given", "mobile", "Chrome 120, Android")]
    assert ledger[0]["id"] == ledger[1]["id"] and ledger[0]["account_id"] is None
    assert started - timedelta(seconds=1) <= ledger[0]["at"] <= datetime.now(UTC)
    # The address only as identity's keyed hash of it (what its throttles keep), never the address.
    keyed = system.runtimes["identity"].context.pii_hash("address:127.0.0.1")[:32]
    assert ledger[0]["address_hash"] == keyed and "127.0.0.1" not in str(ledger)

    envelopes = await eventually(lambda: published_for(nats_url, reg_id, "consent_given"), timeout=15)
    assert len(envelopes) == 1
    envelope = envelopes[0]
    member_id = (await rows(system, "SELECT member_id FROM registry_members WHERE card_hash = :c",
                            c=system.runtimes["identity"].context.pii_hash(PEOPLE["an"][1])))[0]["member_id"]
    assert envelope["type"] == "sotay.identity.ConsentGiven.v1" and envelope["subject"] == reg_id
    assert envelope["orgunit"] == "ba-dinh-g1-c1"
    assert envelope["data"] == {"registration_id": reg_id, "account_id": None, "member_id": str(member_id),
                                "notice_version": 1, "purposes": ["push", "account"], "method": "mobile",
                                "at": envelope["data"]["at"]}
    assert datetime.fromisoformat(envelope["data"]["at"]) == ledger[0]["at"]
    raw = orjson.dumps(envelope).decode()
    assert not [p for p in personal("an") + [keyed] if p in raw], raw


async def published_for(nats_url: str, reg_id: str, event: str) -> list[dict]:
    return [e for e in await published(nats_url, event, "ba-dinh") if e["data"]["registration_id"] == reg_id]


async def test_a_member_withdraws_and_gives_again_and_withdrawing_the_account_asks_to_close_it(system, nats_url):
    account_id, member = await approved_member(system, "binh")
    mine = await system.client.get(f"{API}/me/consents", headers=member)
    assert mine.status_code == 200, mine.text
    own = mine.json()
    assert own["notice_version"] == 1 and not own["closure_requested"]
    assert [(p["code"], p["required"], p["given"]) for p in own["purposes"]] == [("account", True, True),
                                                                                  ("push", False, False)]
    assert [(h["action"], h["purposes"], h["method"]) for h in own["history"]] == [("given", ["account"], "web")]

    # Push on (from the phone), a device subscribed; then withdrawn: content forgets the device.
    gave = await system.client.post(f"{API}/me/consents", headers={**member, "User-Agent": ANDROID},
                                    json={"notice_version": 1, "purposes": ["push"], "platform": "mobile"})
    assert gave.status_code == 200, gave.text
    assert [p["given"] for p in gave.json()["purposes"]] == [True, True]
    device = await system.client.post("/api/content/v1/push-subscriptions", json=a_device(), headers=member)
    assert device.status_code == 201, device.text
    again = await system.client.post(f"{API}/me/consents", headers=member,
                                     json={"notice_version": 1, "purposes": ["push"], "platform": "web"})
    assert again.status_code == 422 and again.json()["errors"] == [{"field": "purposes",
                                                                     "reason": "is already given: push"}]

    withdrawn = await system.client.post(f"{API}/me/consents/withdraw", headers=member,
                                         json={"purposes": ["push"], "platform": "web"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert [p["given"] for p in withdrawn.json()["purposes"]] == [True, False]

    async def devices() -> int:
        async with system.runtimes["content"].context.engine.connect() as db:
            return (await db.execute(text("SELECT count(*) FROM push_subscriptions WHERE account_id = :a"),
                                     {"a": account_id})).scalar()
    await eventually(lambda: _zero(devices()), timeout=15)
    twice = await system.client.post(f"{API}/me/consents/withdraw", headers=member,
                                     json={"purposes": ["push"], "platform": "web"})
    assert twice.status_code == 422 and twice.json()["errors"] == [{"field": "purposes", "reason": "was not given: push"}]
    regave = await system.client.post(f"{API}/me/consents", headers=member,
                                      json={"notice_version": 1, "purposes": ["push"], "platform": "web"})
    assert regave.status_code == 200 and [p["given"] for p in regave.json()["purposes"]] == [True, True]

    # Withdrawing the required purpose is asking for the account to be closed; nothing is deleted.
    closing = await system.client.post(f"{API}/me/consents/withdraw", headers=member,
                                       json={"purposes": ["account"], "platform": "web"})
    assert closing.status_code == 200 and closing.json()["closure_requested"] is True
    history = closing.json()["history"]
    assert [(h["action"], h["purposes"], h["method"]) for h in history] == [
        ("withdrawn", ["account"], "web"), ("given", ["push"], "web"), ("withdrawn", ["push"], "web"),
        ("given", ["push"], "mobile"), ("given", ["account"], "web")]
    assert history[3]["client"] == "Chrome 120, Android" and all(h["notice_version"] == 1 for h in history)
    assert (await rows(system, "SELECT status FROM accounts WHERE id = :a", a=account_id))[0]["status"] == "active"

    # Each change an event with the account's id: no personal data.
    reg_id = str((await rows(system, "SELECT registration_id FROM accounts WHERE id = :a",
                             a=account_id))[0]["registration_id"])
    withdrawals = await eventually(lambda: published_for(nats_url, reg_id, "consent_withdrawn"), timeout=15)
    assert [(e["data"]["purposes"], e["data"]["account_id"], e["data"]["method"]) for e in withdrawals] == [
        (["push"], account_id, "web"), (["account"], account_id, "web")]
    givings = await published_for(nats_url, reg_id, "consent_given")
    assert [e["data"]["purposes"] for e in givings] == [["account"], ["push"], ["push"]]
    raw = orjson.dumps(withdrawals + givings).decode()
    assert not [p for p in personal("binh") if p in raw], raw


async def _zero(count) -> bool:
    return await count == 0


async def test_staff_see_who_consented_in_their_units_only_and_each_read_is_audited(system, monkeypatch):
    await approved_member(system, "cuc")
    account_giap, giap = await approved_member(system, "giap")
    assert (await system.client.post(f"{API}/me/consents", headers=giap, json={
        "notice_version": 1, "purposes": ["push"], "platform": "mobile"})).status_code == 200
    em = await register(system, body("em"))
    assert (await system.client.post(f"{API}/registrations/{em}/approve",
                                     headers=system.auth("unit_admin", "tay-ho"))).status_code == 200
    async with system.runtimes["identity"].context.engine.begin() as db:  # an account from before the ledger
        _, card, cell = PEOPLE["hai"]
        await create_user(db, card_hash=system.runtimes["identity"].context.pii_hash(card), card_no=card,
                          phone=f"09{card[-8:]}", password_hash=HASHER.hash(PASSWORD), role="member", unit=cell,
                          by="test")
    reads = "SELECT count(*) AS n FROM audit_log WHERE action = 'read_consents'"
    before = (await rows(system, reads))[0]["n"]

    admin = system.auth("unit_admin", "ba-dinh", subject="admin-ba-dinh")
    answer = await system.client.get(f"{API}/consents", params={"unit": "ba-dinh-g1"}, headers=admin)
    assert answer.status_code == 200, answer.text
    seen = answer.json()
    assert seen["unit"] == "ba-dinh-g1" and seen["notice_version"] == 1
    by_cell = {u["unit"]: u for u in seen["units"]}
    assert set(by_cell) <= {"ba-dinh-g1-c1", "ba-dinh-g1-c2"}
    assert by_cell["ba-dinh-g1-c2"] == {"unit": "ba-dinh-g1-c2", "accounts": 3, "current": 2, "older": 0, "none": 1,
                                        "closing": 0, "purposes": {"push": 1}}
    people = {i["full_name"]: i for i in seen["items"]}
    assert people["Vũ Văn Giáp"]["purposes"] == ["push"] and people["Vũ Văn Giáp"]["notice_version"] == 1
    assert people["Lê Thị Cúc"]["purposes"] == [] and people["Lê Thị Cúc"]["method"] == "web"
    # Made from the command line, with no registration: identity knows no name for it (it holds the
    # registry's only as a keyed hash); the page shows its unit and "—".
    assert people[None]["notice_version"] is None and people[None]["given_at"] is None
    assert "Hoàng Thị Em" not in answer.text  # tay-ho's member
    audited = await rows(system, "SELECT actor, target, details FROM audit_log WHERE action = 'read_consents' "
                                 "ORDER BY id DESC LIMIT 1")
    assert audited[0]["actor"] == "admin-ba-dinh" and audited[0]["target"] == "ba-dinh-g1"
    assert account_giap in audited[0]["details"]["accounts"]

    # A page at a time, by unit.
    first = (await system.client.get(f"{API}/consents", params={"unit": "ba-dinh-g1-c2", "limit": 2},
                                     headers=admin)).json()
    second = (await system.client.get(f"{API}/consents", params={"unit": "ba-dinh-g1-c2", "limit": 2,
                                                                  "cursor": first["next_cursor"]}, headers=admin)).json()
    assert first["units"] == [by_cell["ba-dinh-g1-c2"]] and second["next_cursor"] is None
    assert len(first["items"]) == 2 and len(second["items"]) == 1
    assert {i["full_name"] for i in first["items"] + second["items"]} == {"Vũ Văn Giáp", "Lê Thị Cúc", None}

    # A cell secretary sees their cell; nobody sees outside their units, and a refusal reads nothing.
    secretary = system.auth("cell_secretary", "ba-dinh-g1-c2")
    assert (await system.client.get(f"{API}/consents", params={"unit": "ba-dinh-g1-c2"},
                                    headers=secretary)).status_code == 200
    middle = (await rows(system, reads))[0]["n"]
    for headers, unit, status in ((secretary, "ba-dinh-g1", 403), (system.auth("unit_admin", "tay-ho"), "ba-dinh", 403),
                                  (system.auth("editor", "city"), "ba-dinh", 403),
                                  (system.auth("member", "ba-dinh-g1-c2", subject=account_giap), "ba-dinh-g1-c2", 403),
                                  (admin, "no-such-unit", 422), ({}, "ba-dinh", 401)):
        refused = await system.client.get(f"{API}/consents", params={"unit": unit}, headers=headers)
        assert refused.status_code == status, (unit, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert not [p for p in ("Vũ Văn Giáp", "Lê Thị Cúc", account_giap) if p in refused.text]
    assert (await rows(system, reads))[0]["n"] == middle == before + 4

    # A new version of the notice: everyone stands at an older one until they agree to it again.
    second_notice = domain.Notice(2, date(2026, 6, 1), domain.CURRENT_NOTICE.purposes)
    monkeypatch.setattr(domain, "NOTICES", (*domain.NOTICES, second_notice))
    monkeypatch.setattr(domain, "CURRENT_NOTICE", second_notice)
    assert (await system.client.post(f"{API}/me/consents", headers=giap, json={
        "notice_version": 2, "purposes": ["account", "push"], "platform": "web"})).status_code == 200
    cell = (await system.client.get(f"{API}/consents", params={"unit": "ba-dinh-g1-c2"}, headers=admin)).json()
    assert cell["notice_version"] == 2
    assert cell["units"] == [{"unit": "ba-dinh-g1-c2", "accounts": 3, "current": 1, "older": 1, "none": 1,
                              "closing": 0, "purposes": {"push": 1}}]
