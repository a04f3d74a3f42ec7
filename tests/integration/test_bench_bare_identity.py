"""The registration evening's floor (sotay/system/bench_bare_identity.py) on real PostgreSQL, as
the suite runs it (a uvicorn process of its own): a registration is matched against identity's
registry replica and leaves its row, its consent and its two event rows; a sign-in verifies the
password and returns a token identity's public key verifies; a wrong password is refused."""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

import asyncpg
import httpx
import jwt
import pytest

import services.identity
from services.identity.adapters.passwords import HASHER
from sotay.kit.text import fold
from sotay.kit.auth import AUDIENCE, ISSUER
from sotay.kit.db import plain_url
from sotay.kit.embedded import free_port
from sotay.kit.keys import HmacSha256, pii_hmac_key
from sotay.kit.service import ServiceRuntime
from sotay.system.bench_bare_identity import start
from sotay.system.bench_feed import wait_http
from tests.support.system import CONSENT, make_settings

pytestmark = pytest.mark.integration

PASSWORD = "Mat khau cua dang vien"
CARD, NAME, BORN, PHONE = "0100000001", "Nguyễn Văn A", "1970-05-05", "0901234567"


@pytest.fixture(scope="module")
async def bare(data_dir, database_url):
    settings = make_settings(data_dir)
    identity = ServiceRuntime(services.identity.definition(), settings, "nats://127.0.0.1:1", database_url)
    await identity.migrate()
    await identity.context.engine.dispose()
    hmac = HmacSha256(pii_hmac_key(settings))

    def keyed(value: str) -> str:
        return hmac.hexdigest(value.encode())

    db = await asyncpg.connect(plain_url(database_url))
    await db.execute(
        "INSERT INTO identity.registry_members (member_id, card_hash, name_hash, dob_hash, phone_hash, unit, "
        "unit_path, committee, status, eligible, version) VALUES ($1, $2, $3, $4, $5, 'c1', '/city/d1/g1/c1/', "
        "'d1', 'active', true, 1)", uuid.uuid4(), keyed(CARD), keyed(fold(NAME)), keyed(BORN), keyed(PHONE))
    port = free_port()
    proc = start(database_url, port, data_dir)
    try:
        await wait_http(port, "/healthz")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}/api/identity/v1") as client:
            yield client, db, settings
    finally:
        proc.terminate()
        proc.wait(30)
        await db.close()


async def test_a_registration_is_matched_and_leaves_its_row_consent_and_events(bare):
    client, db, _ = bare
    body = {"party_card_no": CARD, "full_name": NAME, "date_of_birth": BORN, "phone": PHONE, "password": PASSWORD,
            "platform": "mobile", "consent": CONSENT}
    answer = await client.post("/registrations", json=body)
    assert answer.status_code == 202, answer.text
    row = await db.fetchrow("SELECT * FROM public.bench_bare_registrations WHERE id = $1",
                            uuid.UUID(answer.json()["id"]))
    assert (row["match_result"], row["unit"], row["committee"], row["status"]) == ("matched", "c1", "d1", "pending")
    assert HASHER.verify(row["password_hash"], PASSWORD)
    assert await db.fetchval("SELECT count(*) FROM public.bench_bare_consents WHERE registration_id = $1",
                             row["id"]) == len(CONSENT["purposes"])
    subjects = [r["subject"] for r in await db.fetch("SELECT subject FROM public.bench_bare_outbox ORDER BY id")]
    assert [s.rsplit(".", 1)[1] for s in subjects] == ["RegistrationSubmitted", "ConsentGiven"]
    assert await db.fetchval("SELECT cardinality(at) FROM public.bench_bare_throttle WHERE key LIKE 'register:%'") == 1

    # Not in the registry: still received, matched as such.
    answer = await client.post("/registrations", json={**body, "party_card_no": "0999999999"})
    assert answer.status_code == 202
    assert await db.fetchval("SELECT match_result FROM public.bench_bare_registrations WHERE id = $1",
                             uuid.UUID(answer.json()["id"])) == "not_in_registry"


async def test_a_sign_in_returns_a_token_the_public_key_verifies_and_a_wrong_password_is_refused(bare):
    client, db, settings = bare
    account = uuid.uuid4()
    await db.execute(
        "INSERT INTO public.bench_bare_accounts (id, member_id, party_card_no, phone, password_hash, platform, unit, "
        "unit_path, committee) VALUES ($1, $2, $3, $4, $5, 'mobile', 'c1', '/city/d1/g1/c1/', 'd1')",
        account, uuid.uuid4(), CARD, PHONE, HASHER.hash(PASSWORD))
    await db.execute("INSERT INTO public.bench_bare_grants (account_id, role, unit, granted_by) "
                     "VALUES ($1, 'member', 'c1', 'test')", account)

    def form(username: str, password: str) -> dict:
        return {"content": urlencode({"grant_type": "password", "username": username, "password": password}),
                "headers": {"Content-Type": "application/x-www-form-urlencoded"}}

    refused = await client.post("/token", **form(CARD, "not the password"))
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_grant"}
    assert await db.fetchval("SELECT count(*) FROM public.bench_bare_throttle WHERE key LIKE '%account:%'") == 2

    answer = await client.post("/token", **form(PHONE, PASSWORD))  # by phone, as identity allows
    assert answer.status_code == 200, answer.text
    tokens = answer.json()
    claims = jwt.decode(tokens["access_token"], settings.signing_key().public_key(), algorithms=["EdDSA"],
                        audience=AUDIENCE, issuer=ISSUER)
    assert claims["sub"] == str(account) and claims["card"] == CARD and claims["unit"] == "c1"
    assert claims["roles"] == [{"role": "member", "unit": "c1"}]
    assert await db.fetchval("SELECT count(*) FROM public.bench_bare_refresh WHERE account_id = $1", account) == 1
    assert await db.fetchval("SELECT activated_at IS NOT NULL FROM public.bench_bare_accounts WHERE id = $1", account)
    assert await db.fetchval("SELECT count(*) FROM public.bench_bare_outbox WHERE subject LIKE '%AccountActivated'") == 1

    # No such account: refused the same way.
    assert (await client.post("/token", **form("0988888888", PASSWORD))).status_code == 400
