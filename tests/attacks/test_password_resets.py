"""Attacks on password resets (issue 18): issuing a code is for the member's cell secretary,
unit admin or the city (wrong role, another unit, no token, an account holding staff roles);
guessing a code is throttled per account and per address and wears the code out; a code
works once, even sent twice at once; no code reaches a log, the outbox, the audit log or a
stored idempotent answer in clear."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from sqlalchemy import text

from tests.attacks.registry_world import PROXY, cell, registry_world
from tests.attacks.test_no_personal_data_in_logs import LogCapture
from tests.support.system import make_settings

pytestmark = pytest.mark.integration

API = "/api/identity/v1"
NEW_PASSWORD = "Hoa sen no giua dam"
ATTEMPTS = 3  # wrong codes that wear a code out
PER_ACCOUNT = 5  # failed resets per account in the window
PER_ADDRESS = 12


@pytest.fixture(scope="module")
async def world(data_dir, nats_url, database_url):
    settings = make_settings(data_dir, trusted_proxies=PROXY, sign_in_window_s=6,
                             sign_in_failures_per_account=PER_ACCOUNT, sign_in_failures_per_address=PER_ADDRESS,
                             password_reset_code_attempts=ATTEMPTS)
    async with registry_world(settings, nats_url, database_url, members_per_committee=40) as world:
        yield world


async def look_up(world, headers, card_no: str):
    return await world.http.post(f"{API}/password-resets/lookup", json={"party_card_no": card_no}, headers=headers)


async def issue_for(world, headers, account_id: str):
    return await world.http.post(f"{API}/accounts/{account_id}/password-reset-codes", headers=headers)


async def code_for(world, card_no: str) -> str:
    account = await world.account_id(card_no)
    issued = await issue_for(world, world.auth("unit_admin", "ba-dinh"), account)
    assert issued.status_code == 201, issued.text
    return issued.json()["code"]


async def redeem(world, username: str, code: str, password: str = NEW_PASSWORD, address: str | None = None):
    return await world.http.post(f"{API}/password-resets",
                                 json={"username": username, "code": code, "new_password": password},
                                 headers={"X-Forwarded-For": address} if address else {})


def other(code: str, n: int = 1) -> str:
    return f"{(int(code) + n) % 10**8:08d}"


async def test_only_the_members_own_units_staff_issue_and_never_to_someone_above_them(world):
    body = await world.approved(0, 2)  # ba-dinh, cell 1
    card_no = body["party_card_no"]
    account = await world.account_id(card_no)
    assert (await look_up(world, {}, card_no)).status_code == 401
    assert (await issue_for(world, {}, account)).status_code == 401
    for headers in (world.auth("member", cell("ba-dinh", 1)), world.auth("editor", "ba-dinh"),
                    world.auth("cell_secretary", cell("ba-dinh", 2)), world.auth("unit_admin", "tay-ho"),
                    world.auth("cell_secretary", cell("tay-ho", 1))):
        assert (await look_up(world, headers, card_no)).status_code == 403
        assert (await issue_for(world, headers, account)).status_code == 403
    secretary = world.auth("cell_secretary", cell("ba-dinh", 1))
    assert (await look_up(world, secretary, "0999999999")).status_code == 404
    assert (await issue_for(world, secretary, "01a2b3c4-0000-7000-8000-000000000000")).status_code == 404
    assert (await look_up(world, secretary, "not a card")).status_code == 422

    # A member the city made ba-dinh's unit admin: neither the cell's secretary nor another of
    # ba-dinh's unit admins may take their account over; the city may.
    admin_body = await world.approved(0, 4)
    admin = await world.account_id(admin_body["party_card_no"])
    granted = await world.http.post(f"{API}/accounts/{admin}/grants", json={"role": "unit_admin", "unit": "ba-dinh"},
                                    headers=world.auth("city_admin"))
    assert granted.status_code == 201, granted.text
    assert (await issue_for(world, secretary, admin)).status_code == 403
    assert (await issue_for(world, world.auth("unit_admin", "ba-dinh"), admin)).status_code == 403
    assert (await issue_for(world, world.auth("city_admin"), admin)).status_code == 201
    # A member made their cell's secretary: not by a fellow secretary of the cell, by the unit admin above.
    peer_body = await world.approved(0, 36)
    peer = await world.account_id(peer_body["party_card_no"])
    granted = await world.http.post(f"{API}/accounts/{peer}/grants",
                                    json={"role": "cell_secretary", "unit": cell("ba-dinh", 1)},
                                    headers=world.auth("city_admin"))
    assert granted.status_code == 201, granted.text
    assert (await issue_for(world, secretary, peer)).status_code == 403
    assert (await issue_for(world, world.auth("unit_admin", "ba-dinh"), peer)).status_code == 201
    # Nobody resets their own account this way.
    assert (await issue_for(world, world.auth("city_admin", subject=admin), admin)).status_code == 403
    codes = await world.scalar("identity", "SELECT count(*) FROM password_reset_codes WHERE account_id = :a",
                               a=account)
    assert codes == 0  # nothing refused left anything behind


async def test_wrong_codes_wear_the_code_out_and_every_refusal_is_the_same(world):
    body = await world.approved(0, 6)
    card_no = body["party_card_no"]
    code = await code_for(world, card_no)
    answers = [await redeem(world, card_no, other(code, n), address="10.0.1.1") for n in range(1, ATTEMPTS + 1)]
    assert {a.status_code for a in answers} == {400}
    right_but_worn_out = await redeem(world, card_no, code, address="10.0.1.2")
    unknown_card = await redeem(world, "0999999998", code, address="10.0.1.3")
    strip = lambda r: {k: v for k, v in r.json().items() if k != "instance"}
    assert right_but_worn_out.status_code == unknown_card.status_code == 400
    assert strip(right_but_worn_out) == strip(unknown_card) == strip(answers[0])
    assert (await world.sign_in(card_no)).status_code == 200  # the password never changed


async def test_guessing_is_throttled_per_account_and_per_address_but_not_the_members_sign_in(world):
    body = await world.approved(0, 8)
    card_no = body["party_card_no"]
    # Wrong codes from many addresses at one account (no live code: each is simply wrong).
    answers = [await redeem(world, card_no, f"{n:08d}", address=f"10.0.2.{n}") for n in range(PER_ACCOUNT + 1)]
    assert [a.status_code for a in answers[:PER_ACCOUNT]] == [400] * PER_ACCOUNT
    assert answers[-1].status_code == 429 and int(answers[-1].headers["retry-after"]) >= 1
    assert (await world.sign_in(card_no, address="10.0.2.200")).status_code == 200  # sign-in is not the reset's

    # One address guessing across many accounts.
    cards = [(await world.approved(0, i))["party_card_no"] for i in range(10, 10 + PER_ADDRESS + 1)]
    spread = [await redeem(world, c, "12345678", address="10.0.3.1") for c in cards]
    assert [a.status_code for a in spread[:PER_ADDRESS]] == [400] * PER_ADDRESS
    assert spread[-1].status_code == 429
    assert (await redeem(world, cards[-1], "12345678", address="10.0.3.2")).status_code == 400  # another address


async def test_a_member_locked_out_of_sign_in_still_resets_and_signs_in_at_once(world):
    body = await world.approved(0, 30)
    card_no = body["party_card_no"]
    for _ in range(PER_ACCOUNT):
        assert (await world.sign_in(card_no, "khong phai mat khau", address="10.0.4.1")).status_code == 400
    assert (await world.sign_in(card_no, address="10.0.4.1")).status_code == 429
    code = await code_for(world, card_no)
    assert (await redeem(world, card_no, code, address="10.0.4.1")).status_code == 200
    assert (await world.sign_in(card_no, NEW_PASSWORD, address="10.0.4.1")).status_code == 200


async def test_a_code_sent_twice_at_once_works_once(world):
    body = await world.approved(0, 32)
    card_no = body["party_card_no"]
    code = await code_for(world, card_no)
    first, second = await asyncio.gather(redeem(world, card_no, code, address="10.0.5.1"),
                                         redeem(world, card_no, code, "Mot mat khau khac han", address="10.0.5.2"))
    assert sorted([first.status_code, second.status_code]) == [200, 400]
    winner = NEW_PASSWORD if first.status_code == 200 else "Mot mat khau khac han"
    assert (await world.sign_in(card_no, winner)).status_code == 200


async def test_no_code_reaches_a_log_the_outbox_the_audit_log_or_a_stored_answer(world):
    body = await world.approved(0, 34)
    card_no = body["party_card_no"]
    account = await world.account_id(card_no)
    capture = LogCapture()
    with capture.running():
        issued = await world.http.post(f"{API}/accounts/{account}/password-reset-codes",
                                       headers={**world.auth("unit_admin", "ba-dinh"), "Idempotency-Key": "k-1"})
        code = issued.json()["code"]
        assert (await redeem(world, card_no, other(code), address="10.0.6.1")).status_code == 400
        assert (await redeem(world, card_no, f"{code[:4]} {code[4:]}", address="10.0.6.1")).status_code == 200
        await asyncio.sleep(1)  # the relay publishes what the outbox holds
    shown = (code, f"{code[:4]} {code[4:]}", other(code))
    logs = capture.text()
    assert not [c for c in shown if c in logs]
    engine = world.system.runtimes["identity"].context.engine
    async with engine.connect() as db:
        stored = []
        for sql in ("SELECT body::text AS b, headers::text AS h FROM outbox",
                    "SELECT actor, action, target, reason, details::text AS d FROM audit_log",
                    "SELECT response::text AS r FROM idempotency_keys",
                    "SELECT * FROM password_reset_codes"):
            stored += [dict(r) for r in (await db.execute(text(sql))).mappings()]
    dumped = orjson.dumps(stored, default=str).decode()
    # bytea as text is hex: look for the code's bytes there too.
    assert not [c for c in shown if c in dumped or c.encode().hex() in dumped]
