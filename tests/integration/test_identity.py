"""Identity on real NATS and PostgreSQL: the pilot scenario (1,000
registrations over HTTP across 3 committees), scoped approval, sign-in and
tokens, and the attacks the service must withstand."""

from __future__ import annotations

import asyncio
import base64
import statistics
import time

import nats
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

import services.identity
import services.members
from services.members.adapters.import_files import write_csv
from sotay.kit.auth import Grant, mint_token
from tests.support.system import CONSENT, create_org_tree, eventually, make_settings, running_system

pytestmark = pytest.mark.integration

COMMITTEES = ("ba-dinh", "tay-ho", "hoan-kiem")
PASSWORD = "Chi bo so 1 vung manh"


def cells_of(committee: str) -> list[str]:
    return [f"{committee}-g1-c1", f"{committee}-g1-c2"]


def registry_rows() -> list[dict[str, str]]:
    rows = []
    for c_index, committee in enumerate(COMMITTEES):
        for i in range(340):
            status, eligible, reason = "active", "true", ""
            if i >= 330:
                status, eligible, reason = ("deceased", "false", "từ trần")
            rows.append({"party_card_no": f"0{c_index + 1}{i:08d}", "full_name": f"Nguyễn Văn {chr(65 + i % 26)}",
                         "date_of_birth": "1970-05-05", "gender": "male", "citizen_id": "",
                         "phone": f"09{c_index}{i:07d}", "unit": cells_of(committee)[i % 2], "status": status,
                         "eligible": eligible, "ineligible_reason": reason, "admitted_on": "", "official_on": ""})
    return rows


@pytest.fixture(scope="module")
async def system(data_dir, nats_url, database_url):
    # Throttles of a few seconds, so that waiting one out fits in a test.
    settings = make_settings(data_dir, approval_overdue_days=3, sign_in_window_s=4, sign_in_failures_per_account=5)
    definitions = [services.members.definition(), services.identity.definition()]
    async with running_system(definitions, settings, nats_url, database_url) as system:
        admin = system.auth("city_admin")
        await create_org_tree(system.client, COMMITTEES, admin)
        imported = await system.client.post(
            "/api/members/v1/imports", params={"wait": "true"},
            files={"file": ("registry.csv", write_csv(registry_rows()), "text/csv")}, headers=admin)
        assert imported.json()["imported"] == 1020, imported.text
        await eventually(lambda: replica_count(system, 1020), timeout=30)
        yield system


async def replica_count(system, expected: int) -> bool:
    async with system.runtimes["identity"].context.engine.connect() as conn:
        return (await conn.execute(text("SELECT count(*) FROM registry_members"))).scalar_one() == expected


def registration(card: str, *, name: str = "Nguyễn Văn A", dob: str = "1970-05-05", phone: str = "0900000000",
                 platform: str = "mobile", password: str = PASSWORD) -> dict:
    return {"party_card_no": card, "full_name": name, "date_of_birth": dob, "phone": phone, "password": password,
            "platform": platform, "consent": CONSENT}


def matching(committee_index: int, i: int, **kw) -> dict:
    return registration(f"0{committee_index + 1}{i:08d}", name=f"Nguyễn Văn {chr(65 + i % 26)}",
                        phone=f"09{committee_index}{i:07d}", **kw)


async def register(system, body: dict) -> dict:
    response = await system.client.post("/api/identity/v1/registrations", json=body)
    assert response.status_code == 202, response.text
    return response.json()


async def subject_counts(nats_url: str) -> dict[str, int]:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info("SOTAY_IDENTITY", subjects_filter=">")
        return dict(info.state.subjects or {})
    finally:
        await nc.close()


async def test_pilot_scenario_1000_registrations_scoped_approval_and_events(system, nats_url):
    bodies = []
    for c in range(3):
        bodies += [matching(c, i, platform="web" if i % 10 == 0 else "mobile") for i in range(0, 297)]  # matched
        bodies += [matching(c, i, dob="1971-01-01") for i in range(297, 317)]                         # details differ
        bodies += [registration(f"0{c + 1}99{i:06d}") for i in range(10)]                             # not in registry
        bodies += [matching(c, i) for i in range(330, 333)]                                           # not eligible
    bodies += [matching(0, i) for i in range(0, 10)]  # a second registration while one is pending
    assert len(bodies) == 1000
    gate = asyncio.Semaphore(16)

    async def submit(body):
        async with gate:
            return await register(system, body)
    answers = await asyncio.gather(*(submit(b) for b in bodies[:-10]))
    answers += [await register(system, b) for b in bodies[-10:]]  # after their first ones
    assert {a["status"] for a in answers} == {"received"}

    approver_a, approver_b = system.auth("unit_admin", "ba-dinh"), system.auth("unit_admin", "tay-ho")
    queue_a = await all_pages(system, approver_a, status="pending")
    results = {}
    for r in queue_a:
        results[r["match_result"]] = results.get(r["match_result"], 0) + 1
    assert results == {"matched": 297, "details_differ": 20, "not_eligible": 3, "already_registered": 10}
    assert all(r["committee"] == "ba-dinh" for r in queue_a)
    city_queue = await all_pages(system, system.auth("city_admin"), status="pending", match="not_in_registry")
    assert len(city_queue) == 30  # unmatched ones are the city's to look at
    assert all(r["match_reasons"] for r in queue_a if r["match_result"] != "matched")

    # B's approver learns nothing about A's registrations.
    a_reg = queue_a[0]["id"]
    assert (await system.client.get(f"/api/identity/v1/registrations/{a_reg}", headers=approver_b)).status_code == 403
    refused = await system.client.post(f"/api/identity/v1/registrations/{a_reg}/approve", headers=approver_b)
    assert refused.status_code == 403
    missing = await system.client.post("/api/identity/v1/registrations/01a2b3c4-0000-7000-8000-000000000000/approve",
                                       headers=approver_b)
    assert missing.status_code == 403 and missing.json() == {**refused.json(), "instance": missing.json()["instance"]}
    member_token = system.auth("member", "ba-dinh-g1-c1")
    assert (await system.client.get("/api/identity/v1/registrations", headers=member_token)).status_code == 403

    matched_ids = [r["id"] for r in queue_a if r["match_result"] == "matched"]
    bulk = await system.client.post("/api/identity/v1/registrations/approve",
                                    json={"ids": matched_ids + [queue_a[-1]["id"]]}, headers=approver_a)
    assert bulk.status_code == 200, bulk.text
    assert bulk.json()["approved"] == 297
    assert bulk.json()["results"][-1]["status"] == "refused"
    assert len(await all_pages(system, approver_a, status="pending", match="matched")) == 0

    counts = await eventually(lambda: _counts_reach(nats_url, 297))
    assert counts["sotay.identity.registration_submitted.ba-dinh"] == 330
    assert counts["sotay.identity.registration_submitted.tay-ho"] == 320
    assert counts["sotay.identity.registration_submitted.city"] == 30
    assert counts["sotay.identity.account_approved.ba-dinh"] == 297
    assert "sotay.identity.account_approved.tay-ho" not in counts

    async def has_accounts():
        async with system.runtimes["members"].context.engine.connect() as conn:
            return (await conn.execute(text("SELECT count(*) FROM members WHERE has_account"))).scalar_one() == 297
    await eventually(has_accounts, timeout=20)


async def _counts_reach(nats_url, approved):
    counts = await subject_counts(nats_url)
    return counts if counts.get("sotay.identity.account_approved.ba-dinh", 0) >= approved else None


async def all_pages(system, headers, **params) -> list[dict]:
    items, cursor = [], None
    while True:
        query = {**params, "limit": 200} | ({"cursor": cursor} if cursor else {})
        page = await system.client.get("/api/identity/v1/registrations", params=query, headers=headers)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


async def sign_in(system, username: str, password: str = PASSWORD):
    return await system.client.post("/api/identity/v1/token",
                                    data={"grant_type": "password", "username": username, "password": password})


async def approved_account(system, committee_index: int, i: int, **kw) -> dict:
    body = matching(committee_index, i, **kw)
    reg = await register(system, body)
    approver = system.auth("unit_admin", COMMITTEES[committee_index])
    decided = await system.client.post(f"/api/identity/v1/registrations/{reg['id']}/approve", headers=approver)
    assert decided.status_code == 200, decided.text
    return body


async def test_sign_in_issues_short_tokens_that_other_services_accept_and_activates_once(system, nats_url):
    body = await approved_account(system, 1, 320)
    by_phone = await sign_in(system, body["phone"].replace("09", "+849", 1))
    assert by_phone.status_code == 200, by_phone.text
    tokens = by_phone.json()
    assert tokens["token_type"] == "Bearer" and tokens["expires_in"] <= 900
    header = orjson.loads(base64.urlsafe_b64decode(tokens["access_token"].split(".")[0] + "=="))
    assert header["alg"] == "EdDSA" and header["kid"]
    me = await system.client.get("/api/identity/v1/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert me.json()["roles"] == [{"role": "member", "unit": "tay-ho-g1-c1"}]
    own = await system.client.get("/api/members/v1/members/me",
                                  headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert own.status_code == 200 and own.json()["party_card_no"] == body["party_card_no"]
    assert (await sign_in(system, body["party_card_no"])).status_code == 200
    counts = await eventually(lambda: _activated(nats_url))
    assert counts == 1  # the first sign-in only
    jwks = (await system.client.get("/api/identity/v1/.well-known/jwks.json")).json()
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}


async def _activated(nats_url):
    return (await subject_counts(nats_url)).get("sotay.identity.account_activated.tay-ho")


async def test_tampered_tokens_are_refused(system):
    key = Ed25519PrivateKey.generate()
    url = "/api/members/v1/members"
    good = system.token("city_admin")
    header, payload, _ = good.split(".")

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    alg_none = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    wrong_key = mint_token(key, "x", [Grant("city_admin", "city")])
    wrong_audience = good.replace(payload, b64({**claims, "aud": "elsewhere"}))
    # Expired beyond the clock skew every service allows (30 s).
    expired = mint_token(system.settings.signing_key(), "x", [Grant("city_admin", "city")], ttl_s=-60)
    for token in (alg_none, wrong_key, wrong_audience, expired, good[:-3] + "abc"):
        response = await system.client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token
    assert (await system.client.get(url, headers={"Authorization": f"Bearer {good}"})).status_code == 200


async def test_refresh_tokens_rotate_and_reuse_revokes_the_family(system):
    body = await approved_account(system, 1, 321)
    first = (await sign_in(system, body["party_card_no"])).json()

    async def refresh(token):
        return await system.client.post("/api/identity/v1/token",
                                        data={"grant_type": "refresh_token", "refresh_token": token})
    second = await refresh(first["refresh_token"])
    assert second.status_code == 200 and second.json()["refresh_token"] != first["refresh_token"]
    reused = await refresh(first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    # The thief's reuse also ends the legitimate holder's newer token.
    assert (await refresh(second.json()["refresh_token"])).status_code == 400


async def test_enumeration_same_answer_for_existing_and_missing_cards(system):
    existing = matching(2, 320)
    missing = registration("0399999999")
    answers, timings = {}, {"existing": [], "missing": []}
    for _ in range(6):
        for label, body in (("existing", existing), ("missing", missing)):
            started = time.perf_counter()
            response = await system.client.post("/api/identity/v1/registrations", json=body)
            timings[label].append(time.perf_counter() - started)
            answers[label] = (response.status_code, sorted(response.json()), response.json()["message"])
    assert answers["existing"] == answers["missing"]
    ratio = statistics.median(timings["existing"]) / statistics.median(timings["missing"])
    print(f"registration medians: existing {statistics.median(timings['existing']) * 1000:.1f} ms, "
          f"missing {statistics.median(timings['missing']) * 1000:.1f} ms")
    assert 0.5 < ratio < 2.0  # both hash the password: the lookups are noise beside argon2id

    wrong = await sign_in(system, "0300000320", "not the password at all")
    unknown = await sign_in(system, "0388888888", "not the password at all")
    assert wrong.status_code == unknown.status_code == 400
    assert {k: v for k, v in wrong.json().items() if k != "instance"} == \
        {k: v for k, v in unknown.json().items() if k != "instance"}


async def test_rate_limit_slows_guessing_without_locking_the_member_out(system):
    body = await approved_account(system, 1, 322)
    for _ in range(5):
        assert (await sign_in(system, body["party_card_no"], "wrong password!")).status_code == 400
    throttled = await sign_in(system, body["party_card_no"], "wrong password!")
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    # Never signed in from this address before: even the right password waits (tests/attacks has the rest).
    assert (await sign_in(system, body["party_card_no"])).status_code == 429
    await asyncio.sleep(int(throttled.headers["retry-after"]) + 0.2)
    assert (await sign_in(system, body["party_card_no"])).status_code == 200  # slowed, not locked out


async def test_rejection_reason_reaches_the_registrant(system):
    body = matching(1, 323, dob="1980-01-01")
    reg = await register(system, body)
    refused = await system.client.post(f"/api/identity/v1/registrations/{reg['id']}/reject", json={},
                                       headers=system.auth("cell_secretary", "tay-ho-g1-c2"))
    assert refused.status_code == 422
    rejected = await system.client.post(f"/api/identity/v1/registrations/{reg['id']}/reject",
                                        json={"reason": "Ngày sinh không khớp hồ sơ"},
                                        headers=system.auth("cell_secretary", "tay-ho-g1-c2"))
    assert rejected.status_code == 200, rejected.text
    status = await system.client.post("/api/identity/v1/registrations/status",
                                      json={"party_card_no": body["party_card_no"], "password": PASSWORD})
    assert status.json()["status"] == "rejected" and status.json()["reason"] == "Ngày sinh không khớp hồ sơ"
    wrong = await system.client.post("/api/identity/v1/registrations/status",
                                     json={"party_card_no": body["party_card_no"], "password": "someone else's"})
    assert wrong.status_code == 404


async def test_weak_passwords_and_bad_fields_are_refused_with_reasons(system):
    response = await system.client.post("/api/identity/v1/registrations",
                                        json=registration("12", phone="123", password="matkhau123"))
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"party_card_no", "phone"} <= fields
    weak = await system.client.post("/api/identity/v1/registrations", json=matching(2, 321, password="12345678"))
    assert weak.status_code == 422 and weak.json()["errors"][0]["field"] == "password"


async def test_account_follows_a_transfer_and_is_disabled_when_the_member_dies(system, nats_url):
    body = await approved_account(system, 2, 322)
    tokens = (await sign_in(system, body["party_card_no"])).json()
    own = await system.client.get("/api/members/v1/members/me",
                                  headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert own.status_code == 200
    admin = system.auth("city_admin")
    member = (await system.client.get("/api/members/v1/members", params={"q": body["party_card_no"]},
                                      headers=admin)).json()["items"][0]
    moved = await system.client.post(f"/api/members/v1/members/{member['id']}/transfers",
                                     json={"to_unit": "ba-dinh-g1-c2", "kind": "official"}, headers=admin)
    assert moved.status_code == 200

    async def follows():
        signed = await sign_in(system, body["party_card_no"])
        me = await system.client.get("/api/identity/v1/me",
                                     headers={"Authorization": f"Bearer {signed.json()['access_token']}"})
        return me.json()["roles"] == [{"role": "member", "unit": "ba-dinh-g1-c2"}]
    await eventually(follows, timeout=15)

    died = await system.client.post(f"/api/members/v1/members/{member['id']}/status",
                                    json={"status": "deceased", "reason": "từ trần"}, headers=admin)
    assert died.status_code == 200, died.text

    async def disabled():
        return (await sign_in(system, body["party_card_no"])).status_code == 400
    await eventually(disabled, timeout=15)

    async def access_token_refused():  # in another service too: its sessions ended
        own = await system.client.get("/api/members/v1/members/me",
                                      headers={"Authorization": f"Bearer {tokens['access_token']}"})
        return own.status_code == 401
    await eventually(access_token_refused, timeout=15)
    again = await system.client.post("/api/identity/v1/token",
                                     data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert again.status_code == 400  # its sessions ended
    counts = await subject_counts(nats_url)
    assert counts.get("sotay.identity.account_disabled.ba-dinh") == 1
    assert counts.get("sotay.identity.account_moved.ba-dinh") == 1


def _kid(token: str) -> str:
    return orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["kid"]


async def test_bootstrap_admin_then_rotate_keys_old_tokens_stay_valid(system, database_url, data_dir, monkeypatch):
    import io

    from sotay.system.cli import main as sotay_main

    monkeypatch.setenv("SOTAY_DATABASE_URL", database_url)
    monkeypatch.setenv("SOTAY_DATA_DIR", str(data_dir))
    monkeypatch.setattr("sys.stdin", io.StringIO("Mot mat khau rat dai\n"))
    assert await asyncio.to_thread(sotay_main, ["admin", "create-user", "--card", "0512345678", "--phone",
                                                "0987654321", "--password-stdin"]) == 0
    signed = await sign_in(system, "0512345678", "Mot mat khau rat dai")
    assert signed.status_code == 200, signed.text
    old_token = signed.json()["access_token"]
    headers = {"Authorization": f"Bearer {old_token}"}
    assert (await system.client.get("/api/identity/v1/registrations", headers=headers)).status_code == 200

    assert await asyncio.to_thread(sotay_main, ["keys", "rotate"]) == 0

    async def new_key_signs():
        token = (await sign_in(system, "0512345678", "Mot mat khau rat dai")).json()["access_token"]
        return token if _kid(token) != _kid(old_token) else None
    new_token = await eventually(new_key_signs, timeout=20)
    jwks = (await system.client.get("/api/identity/v1/.well-known/jwks.json")).json()
    assert {_kid(old_token), _kid(new_token)} <= {k["kid"] for k in jwks["keys"]}
    for token in (old_token, new_token):  # both verify in another service
        response = await system.client.get("/api/members/v1/members", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200


async def test_a_registration_pending_too_long_is_flagged_overdue_to_the_unit_above(system):
    reg = await register(system, matching(2, 324))
    async with system.runtimes["identity"].context.engine.begin() as conn:
        await conn.execute(text("UPDATE registrations SET submitted_at = now() - interval '5 days' WHERE id = :id"),
                           {"id": reg["id"]})
    above = system.auth("unit_admin", "hoan-kiem")  # the committee above the member's cell
    overdue = (await system.client.get("/api/identity/v1/registrations", params={"overdue": "true"},
                                       headers=above)).json()["items"]
    assert [r["id"] for r in overdue] == [reg["id"]] and overdue[0]["overdue"] is True


async def test_admins_grant_roles_within_their_own_subtree_only(system):
    body = await approved_account(system, 0, 317)  # active and not registered by the tests above
    tokens = (await sign_in(system, body["party_card_no"])).json()
    account_id = (await system.client.get("/api/identity/v1/me",
                                          headers={"Authorization": f"Bearer {tokens['access_token']}"})).json()["subject"]
    admin_a = system.auth("unit_admin", "ba-dinh")
    url = f"/api/identity/v1/accounts/{account_id}/grants"
    outside = await system.client.post(url, json={"role": "cell_secretary", "unit": "tay-ho-g1-c1"}, headers=admin_a)
    assert outside.status_code == 403
    too_high = await system.client.post(url, json={"role": "city_admin", "unit": "city"}, headers=admin_a)
    assert too_high.status_code == 403
    granted = await system.client.post(url, json={"role": "cell_secretary", "unit": "ba-dinh-g1-c2"}, headers=admin_a)
    assert granted.status_code == 201
    assert {"role": "cell_secretary", "unit": "ba-dinh-g1-c2"} in granted.json()["roles"]
    signed = (await sign_in(system, body["party_card_no"])).json()["access_token"]
    queue = await system.client.get("/api/identity/v1/registrations", headers={"Authorization": f"Bearer {signed}"})
    assert queue.status_code == 200  # the new secretary sees their cell's queue


async def test_throttle_windows_that_ended_long_ago_are_forgotten(system):
    from services.identity.adapters import store

    async with system.runtimes["identity"].context.engine.begin() as db:
        await db.execute(text("INSERT INTO throttle_windows (key, at) VALUES "
                              "('name:old', ARRAY[now() - interval '2 days']), ('name:recent', ARRAY[now()])"))
        await store.forget_old_windows(db, 3600)
        left = set((await db.execute(text("SELECT key FROM throttle_windows WHERE key LIKE 'name:%'"))).scalars())
    assert "name:old" not in left and "name:recent" in left

async def test_a_batch_writes_members_without_an_account_together_and_follows_the_accounts(system):
    """apply_registry_batch on one batch of member events: those of members with no account go in
    one executemany, in stream order; a member's with an account one at a time, the account moved."""
    from services.identity.handlers.replica import apply_registry_batch
    from sotay.contracts.members import MemberTransferred

    with_account = await approved_account(system, 1, 323)
    admin = system.auth("city_admin")
    ids = {}
    for i in (323, 324):
        card = matching(1, i)["party_card_no"]
        found = (await system.client.get("/api/members/v1/members", params={"q": card}, headers=admin)).json()
        ids[i] = found["items"][0]["id"]
    target = "ba-dinh-g1-c2"

    def moved(member_id: str, sequence: int) -> dict:
        return {"type": MemberTransferred.event_type(), "sequence": str(sequence),
                "data": {"member_id": member_id, "unit": target, "unit_path": ["city", "ba-dinh", "ba-dinh-g1", target],
                         "status": "active", "eligible": True, "personal": None}}

    ended: list[str] = []

    async def end_sessions(account_id: str) -> None:
        ended.append(account_id)

    identity = system.runtimes["identity"].context
    moves = text("SELECT count(*) FROM outbox WHERE subject = 'sotay.identity.account_moved.ba-dinh'")
    async with identity.engine.connect() as db:
        moves_before = (await db.execute(moves)).scalar_one()
    async with identity.engine.begin() as db:
        await apply_registry_batch(db, [moved(ids[324], 100), moved(ids[323], 100), moved(ids[324], 101)],
                                   end_sessions=end_sessions, pii_hash=identity.pii_hash)
    async with identity.engine.connect() as db:
        rows = {str(r.member_id): (r.unit, r.version) for r in await db.execute(text(
            "SELECT member_id, unit, version FROM registry_members WHERE member_id = ANY(CAST(:m AS uuid[]))"),
            {"m": list(ids.values())})}
        account = (await db.execute(text("SELECT unit, status FROM accounts WHERE party_card_no = :c"),
                                    {"c": with_account["party_card_no"]})).one()
        emitted = (await db.execute(moves)).scalar_one() - moves_before
    assert rows == {ids[324]: (target, 101), ids[323]: (target, 100)}
    assert (account.unit, account.status) == (target, "active") and emitted == 1 and ended == []


async def test_a_registration_retried_under_its_idempotency_key_is_stored_once(system):
    """The registration runs on asyncpg's own connection (Idempotency.run_on_driver): its row, its
    consent rows and its two events commit with the key's answer, a retry replays that answer, and
    the key given another body is refused."""
    body = matching(2, 325)
    key = {"Idempotency-Key": "dang-ky-2-325"}
    first = await system.client.post("/api/identity/v1/registrations", json=body, headers=key)
    assert first.status_code == 202, first.text
    again = await system.client.post("/api/identity/v1/registrations", json=body, headers=key)
    assert again.status_code == 202 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    other = await system.client.post("/api/identity/v1/registrations", json={**body, "phone": "0912345678"},
                                     headers=key)
    assert other.status_code == 422 and other.headers["content-type"].startswith("application/problem+json")
    reg_id = first.json()["id"]
    async with system.runtimes["identity"].context.engine.connect() as db:
        registrations = (await db.execute(text("SELECT count(*) FROM registrations WHERE party_card_no = :c"),
                                          {"c": body["party_card_no"]})).scalar_one()
        consents = (await db.execute(text("SELECT count(*) FROM consents WHERE registration_id = :r"),
                                     {"r": reg_id})).scalar_one()
        events = sorted((await db.execute(text(
            "SELECT subject FROM outbox WHERE position(convert_to(:r, 'UTF8') IN body) > 0"), {"r": reg_id})).scalars())
    assert registrations == 1 and consents == len(CONSENT["purposes"])
    assert [s.split(".")[2] for s in events] == ["consent_given", "registration_submitted"], events
