"""Sign-in and registration behind a reverse proxy (issue 16, "Sign-in and registration under
a proxy"): the client address a proxy forwards, throttles that are sliding windows per
account and per address, a registration budget per address, a bounded password pool, and
registrations that squat on someone else's card.

The system runs behind a real uvicorn whose trusted proxy is 127.0.0.2 (where the test
client connects from), with the throttle sizes of production, and a deliberately small
password pool (one thread, four waiting)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from tests.attacks.problems import assert_problem
from tests.attacks.registry_world import (
    COMMITTEES,
    PASSWORD,
    PROXY,
    card,
    forwarded,
    phone_of,
    proxy_client,
    registry_world,
)
from tests.support.system import make_settings, real_server

pytestmark = pytest.mark.integration

CITY_WIFI = "203.0.113.10"  # the address a cell meeting's Wi-Fi shows the world
ATTACKER = "198.51.100.66"


@pytest.fixture(scope="module")
async def world(data_dir, nats_url, database_url):
    # Production's throttles: make_settings opens them wide for the other tests, which share one address.
    settings = make_settings(data_dir, trusted_proxies=PROXY, sign_in_failures_per_account=10,
                             sign_in_failures_per_address=100, registrations_per_address_per_hour=120,
                             password_workers=1, password_queue=4)
    async with registry_world(settings, nats_url, database_url, members_per_committee=80) as world:
        yield world


async def test_an_attacker_behind_the_proxy_blocks_only_their_own_address(world):
    """Today every request behind the proxy carries the proxy's address: about 60 failures from
    anyone block the whole city's sign-ins. With the proxy trusted, the attacker's address waits
    and a member elsewhere signs in."""
    member = await world.approved(0, 1)
    for i in range(100):
        wrong = await world.sign_in(card(0, 40 + i % 30), "not the password", address=ATTACKER)
        assert wrong.status_code == 400, wrong.text
    blocked = await world.sign_in(card(0, 40), "not the password", address=ATTACKER)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
    assert_problem(429, blocked.headers, blocked.content)
    elsewhere = await world.sign_in(member["party_card_no"], address="192.0.2.44")
    assert elsewhere.status_code == 200, elsewhere.text
    status = await world.http.post("/api/identity/v1/registrations/status", headers=forwarded("192.0.2.45"),
                                   json={"party_card_no": member["party_card_no"], "password": PASSWORD})
    assert status.status_code == 200, status.text


async def test_a_forwarded_address_from_an_untrusted_peer_is_ignored(world):
    """A client that is not a trusted proxy cannot pick its address to slip past the throttles."""
    untrusting = world.system.settings.model_copy(update={"trusted_proxies": "10.255.255.1"})
    async with real_server(world.system, settings=untrusting) as base_url:
        async with proxy_client(base_url) as http:
            for i in range(3):
                response = await http.post("/api/identity/v1/token", headers=forwarded(f"192.0.2.{100 + i}"), data={
                    "grant_type": "password", "username": card(1, 70), "password": "nope nope"})
                assert response.status_code == 400
    # All three were counted on the peer's own address, not on three made-up ones; and the throttles
    # keep no card number or address in clear, only keyed hashes.
    keyed = world.system.runtimes["identity"].context.pii_hash(card(1, 70))[:32]
    async with world.system.runtimes["identity"].context.engine.connect() as db:
        addresses = (await db.execute(text(
            "SELECT key, cardinality(at) FROM throttle_windows WHERE key LIKE 'pair:name:' || :c || ':%'"),
            {"c": keyed})).all()
        keys = " ".join((await db.execute(text("SELECT key FROM throttle_windows"))).scalars())
    assert [n for _, n in addresses] == [3], addresses
    assert card(1, 70) not in keys and "192.0.2." not in keys and "127.0.0" not in keys


async def test_a_cell_meeting_behind_one_wifi_all_register_and_sign_in(world):
    """Fifty members behind the meeting room's one address, twenty of them mistyping their
    password three times: everyone registers, and everyone signs in."""
    cards = [card(1, i) for i in range(50)]
    for i, number in enumerate(cards):
        registered = await world.register(world.registration(1, i), address=CITY_WIFI)
        assert registered.status_code == 202, (number, registered.text)
    queue = (await world.http.get("/api/identity/v1/registrations", params={"limit": 1000},
                                  headers=world.auth("unit_admin", "tay-ho"))).json()["items"]
    ids = [r["id"] for r in queue if r["party_card_no"] in cards]
    approved = await world.http.post("/api/identity/v1/registrations/approve", json={"ids": ids},
                                     headers=world.auth("unit_admin", "tay-ho"))
    assert approved.json()["approved"] == 50, approved.text
    for i, number in enumerate(cards):
        if i < 20:
            for _ in range(3):
                mistyped = await world.sign_in(number, "Chi bo so 1 vung manh!", address=CITY_WIFI)
                assert mistyped.status_code == 400, mistyped.text
        signed = await world.sign_in(number, address=CITY_WIFI)
        assert signed.status_code == 200, (i, signed.text)


async def test_guessing_at_a_known_card_does_not_keep_its_member_out(world):
    """One attacker failing on a known card keeps its account window full; the member still
    signs in from the address they used before (the policy chosen: deploy/README.md, Security)."""
    member = await world.approved(0, 2)
    home = "192.0.2.20"
    assert (await world.sign_in(member["party_card_no"], address=home)).status_code == 200
    for _ in range(10):  # (an address of its own: ATTACKER's window is full from the first test)
        assert (await world.sign_in(member["party_card_no"], "a wrong guess", address="198.51.100.70")).status_code \
            == 400
    refused = await world.sign_in(member["party_card_no"], "another guess", address="198.51.100.67")
    assert refused.status_code == 429  # the account's window is full for everyone else
    assert (await world.sign_in(member["party_card_no"], address=home)).status_code == 200
    # ... by phone too, written the way people write it: the same account, the same window.
    spaced = phone_of(member["party_card_no"])
    spaced = f"{spaced[:4]} {spaced[4:7]} {spaced[7:]}"
    assert (await world.sign_in(spaced, "a guess", address="198.51.100.68")).status_code == 429
    assert (await world.sign_in(spaced, address=home)).status_code == 200


async def test_a_card_written_differently_is_the_same_throttle_key(world):
    """The registration-status check keys its throttle on the card as normalised: spaces and a
    dot after the first two digits make no new key (today each spelling had five free tries)."""
    number = card(0, 75)
    spellings = [number, f"{number[:2]}.{number[2:]}", f" {number[:4]} {number[4:]} "]
    answers = []
    for i in range(12):
        response = await world.http.post("/api/identity/v1/registrations/status", headers=forwarded("192.0.2.30"),
                                         json={"party_card_no": spellings[i % 3], "password": "a guess here"})
        answers.append(response.status_code)
    assert answers[:10] == [404] * 10 and answers[10:] == [429, 429], answers


async def test_one_address_cannot_register_past_its_hourly_budget(world):
    """Registrations cost a hash each: an address gets 120 an hour (a cell meeting needs 50)."""
    flood = "198.51.100.99"
    statuses = []
    for i in range(121):
        response = await world.register(world.registration(0, 0, party_card_no=f"09{i:08d}"), address=flood)
        statuses.append(response.status_code)
    assert statuses[:120] == [202] * 120 and statuses[120] == 429, statuses[115:]
    assert (await world.register(world.registration(0, 0, party_card_no="0999999999"),
                                 address="192.0.2.77")).status_code == 202


async def test_a_burst_of_registrations_is_refused_at_once_when_the_password_pool_is_full(world):
    """Hashing has a bounded queue: past it, 503 with Retry-After at once instead of queueing
    memory-hard work without end; sign-ins keep a share of the queue."""
    member = await world.approved(0, 3)
    bodies = [world.registration(0, 0, party_card_no=f"08{i:08d}") for i in range(40)]
    results = await asyncio.gather(
        *(world.register(body, address=f"192.0.2.{150 + i % 40}") for i, body in enumerate(bodies)),
        world.sign_in(member["party_card_no"], address="192.0.2.21"))
    registrations, sign_in = results[:-1], results[-1]
    codes = sorted({r.status_code for r in registrations})
    assert codes == [202, 503], codes
    for busy in (r for r in registrations if r.status_code == 503):
        assert int(busy.headers["retry-after"]) >= 1
        assert_problem(503, busy.headers, busy.content)
    assert sign_in.status_code == 200, sign_in.text
    accepted = sum(r.status_code == 202 for r in registrations)
    stored = await world.scalar("identity", "SELECT count(*) FROM registrations WHERE party_card_no LIKE '08%'")
    assert stored == accepted  # a refused one left nothing behind


async def test_a_squatter_s_registration_does_not_block_the_genuine_member(world):
    """Someone registers first with a member's card and their own details: it waits as
    'details differ'. The member's own registration still matches and can be approved; the
    approver sees the squatter's details beside the registry's, phones by their last digits."""
    genuine = world.registration(0, 5)
    squatter = {**genuine, "full_name": "Kẻ Mạo Danh", "date_of_birth": "1990-09-09", "phone": "0987654321"}
    assert (await world.register(squatter, address=ATTACKER)).status_code == 202
    assert (await world.register(genuine, address="192.0.2.50")).status_code == 202
    approver = world.auth("unit_admin", COMMITTEES[0])
    queue = (await world.http.get("/api/identity/v1/registrations", headers=approver,
                                  params={"limit": 1000})).json()["items"]
    mine = {r["full_name"]: r for r in queue if r["party_card_no"] == genuine["party_card_no"]}
    assert mine[genuine["full_name"]]["match_result"] == "matched", mine
    fake = mine["Kẻ Mạo Danh"]
    assert fake["match_result"] == "details_differ"
    assert fake["comparison"] == [
        # The registry's name and date of birth are keyed hashes in identity: the verdict only.
        {"field": "full_name", "given": "Kẻ Mạo Danh", "registry": None, "same": False},
        {"field": "date_of_birth", "given": "1990-09-09", "registry": None, "same": False},
        {"field": "phone", "given": "*******321", "registry": f"*******{genuine['phone'][-3:]}", "same": False}]
    assert "0987654321" not in str(queue) and genuine["phone"][1:] not in str(queue)
    approved = await world.http.post(f"/api/identity/v1/registrations/{mine[genuine['full_name']]['id']}/approve",
                                     headers=approver)
    assert approved.status_code == 200, approved.text
    late = await world.http.post(f"/api/identity/v1/registrations/{fake['id']}/approve", headers=approver)
    assert late.status_code == 409
    assert (await world.sign_in(genuine["party_card_no"])).status_code == 200
