"""Keys and tokens (issue 16): only identity holds a private key; every service trusts only
the key set identity's root key signed, refuses tokens that claim a long life, allows 30 s
of clock skew and no more, and drops a retired key; keys are sealed at rest; `sotay token`
needs identity's key and refuses in production; the web's refresh token lives in an HttpOnly
cookie scoped to the token endpoint."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import jwt
import nats
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

import services.content
import services.members
import services.metrics
from services.identity.adapters import keys as signing_keys
from sotay.kit.auth import AUDIENCE, ISSUER, JWKS_BUCKET, JWKS_KEY, Grant, jwk, key_id, mint_token, sign_jwks
from sotay.kit.keys import MissingKey, b64url, key_encryption_key, unseal
from sotay.kit.service import ServiceRuntime
from sotay.kit.settings import Settings
from tests.attacks.registry_world import PASSWORD, registry_world
from tests.support.system import eventually, make_settings

pytestmark = pytest.mark.integration

# A route of each service that a signed-in member reads.
READS = {"identity": "/api/identity/v1/me", "content": "/api/content/v1/feed", "members": "/api/members/v1/members/me"}


@pytest.fixture(scope="module")
async def world(data_dir, nats_url, database_url):
    settings = make_settings(data_dir)
    async with registry_world(settings, nats_url, database_url, members_per_committee=10) as world:
        yield world


def member_token(key: Ed25519PrivateKey, *, issued: float | None = None, ttl_s: int = 600) -> str:
    """A member's token as identity would sign it, issued at `issued` (default: now)."""
    iat = int(issued if issued is not None else time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "account-x", "iat": iat, "exp": iat + ttl_s,
              "jti": str(uuid.uuid4()), "roles": [{"role": "member", "unit": "ba-dinh-g1-c1"}],
              "card": "0100000001", "unit": "ba-dinh-g1-c1"}
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": key_id(key.public_key())})


async def statuses(world, token: str) -> dict[str, int]:
    """What each service answers a member's request with this token."""
    return {service: (await world.http.get(path, headers={"Authorization": f"Bearer {token}"})).status_code
            for service, path in READS.items()}


def refused(answers: dict[str, int]) -> bool:
    return set(answers.values()) == {401}


def accepted(answers: dict[str, int]) -> bool:
    return 401 not in answers.values()


def test_no_service_but_identity_gets_a_private_key(tmp_path, nats_url, database_url):
    """Today every service loads (or makes) the token-signing key. Now content and members hold
    none; in production a service without the root's public key, or members without the
    personal-data key, stops at once with the variable to set."""
    root = Ed25519PrivateKey.generate()
    public = b64url(root.public_key().public_bytes_raw())
    production = Settings(env="production", data_dir=tmp_path, jwks_root_public_key=public,
                          pii_hmac_key="x" * 64, events_kek=b64url(b"\x07" * 32))
    content = ServiceRuntime(services.content.definition(), production, nats_url, database_url)
    members = ServiceRuntime(services.members.definition(), production, nats_url, database_url)
    for runtime in (content, members):
        runtime.load_keys()  # what a service reads of its keys as it starts
    assert content.context.pii_key is None and members.context.pii_key is not None
    with pytest.raises(RuntimeError, match="does not hold the personal-data hash key"):
        content.context.pii_hash("0912345678")
    assert not (tmp_path / "keys").exists() or list((tmp_path / "keys").iterdir()) == []
    with pytest.raises(MissingKey, match="SOTAY_JWKS_ROOT_PUBLIC_KEY"):
        ServiceRuntime(services.content.definition(), Settings(env="production", data_dir=tmp_path), nats_url,
                       database_url).load_keys()
    with pytest.raises(MissingKey, match="SOTAY_PII_HMAC_KEY"):
        ServiceRuntime(services.members.definition(),
                       Settings(env="production", data_dir=tmp_path, jwks_root_public_key=public), nats_url,
                       database_url).load_keys()
    with pytest.raises(MissingKey, match="SOTAY_KEY_ENCRYPTION_KEY"):
        key_encryption_key(Settings(env="production", data_dir=tmp_path))
    # The key that opens what member events say of a person: members, identity and content stop
    # without it; metrics is never given it (it needs nothing of a person).
    for definition in (services.members.definition(), services.content.definition()):
        with pytest.raises(MissingKey, match="SOTAY_EVENTS_KEK"):
            ServiceRuntime(definition, production.model_copy(update={"events_kek": None}), nats_url,
                           database_url).load_keys()
    metrics = ServiceRuntime(services.metrics.definition(), production.model_copy(update={"events_kek": None}),
                             nats_url, database_url)
    metrics.load_keys()
    assert metrics.context.events_kek is None and not services.metrics.definition().reads_member_keys


async def test_sotay_token_refuses_in_production_and_signs_with_identity_s_key_otherwise(world, tmp_path,
                                                                                         database_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOTAY_")}

    def sotay_token(*args: str, **variables: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "sotay", "token", *args], env={**env, **variables},
                              capture_output=True, text=True, timeout=120)
    production = await asyncio.to_thread(sotay_token, "--role", "city_admin", SOTAY_ENV="production",
                                         SOTAY_DATA_DIR=str(tmp_path))
    assert production.returncode == 2 and "refused" in production.stderr and production.stdout == ""
    development = await asyncio.to_thread(
        sotay_token, "--role", "member", "--unit", "ba-dinh-g1-c1", "--card", "0100000001",
        SOTAY_DATA_DIR=str(world.system.settings.data_dir), SOTAY_DATABASE_URL=database_url)
    assert development.returncode == 0, development.stderr
    assert "development token" in development.stderr  # the warning
    assert accepted(await statuses(world, development.stdout.strip()))


async def test_a_token_claiming_a_long_life_is_refused_everywhere(world):
    key = world.system.settings.signing_key()
    assert accepted(await statuses(world, member_token(key)))
    assert refused(await statuses(world, member_token(key, ttl_s=30 * 86400)))
    assert refused(await statuses(world, mint_token(key, "x", [Grant("city_admin", "city")], ttl_s=86400)))


async def test_clocks_may_disagree_by_thirty_seconds_and_no_more(world):
    key = world.system.settings.signing_key()
    now = time.time()
    assert accepted(await statuses(world, member_token(key, issued=now + 10)))  # identity's clock ahead
    assert refused(await statuses(world, member_token(key, issued=now + 120)))
    assert accepted(await statuses(world, member_token(key, issued=now - 610)))  # expired 10 s ago
    assert refused(await statuses(world, member_token(key, issued=now - 660)))  # expired a minute ago


async def test_a_key_written_into_the_jwks_bucket_by_anyone_else_is_not_trusted(world, nats_url):
    attacker, attacker_root = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    planted = member_token(attacker)
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(JWKS_BUCKET)
        genuine = (await kv.get(JWKS_KEY)).value
        for forged in (orjson.dumps({"keys": [jwk(attacker.public_key())]}),  # a plain JWKS, as before
                       sign_jwks(attacker_root, [attacker.public_key()])):   # signed by another root
            await kv.put(JWKS_KEY, forged)
            await asyncio.sleep(1.0)  # the services' watches have seen it
            assert refused(await statuses(world, planted))
            assert accepted(await statuses(world, member_token(world.system.settings.signing_key())))

        async def set_back():  # identity puts its own set back over the forgery
            value = (await kv.get(JWKS_KEY)).value
            return value != forged and value[:20] == genuine[:20]
        await eventually(set_back, timeout=15)
    finally:
        await nc.close()


async def test_signing_keys_are_sealed_at_rest(world):
    settings = world.system.settings
    async with world.system.runtimes["identity"].context.engine.connect() as db:
        rows = (await db.execute(text("SELECT kid, private_pem, sealed FROM signing_keys"))).all()
    raw = settings.signing_key().private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                               serialization.NoEncryption())
    assert rows and all(pem is None for _, pem, _ in rows)
    for kid, _, sealed in rows:
        assert raw not in bytes(sealed)
        assert unseal(key_encryption_key(settings), bytes(sealed), context=kid)  # opens with the KEK only
        with pytest.raises(MissingKey):
            unseal(os.urandom(32), bytes(sealed), context=kid)
    key_file = settings.data_dir / "keys" / "signing-ed25519.pem"
    assert key_file.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


async def test_the_web_s_refresh_token_is_an_http_only_cookie_of_the_token_endpoint(world):
    member = await world.approved(0, 7)
    signed = await world.sign_in(member["party_card_no"], refresh_delivery="cookie")
    assert signed.status_code == 200, signed.text
    assert "refresh_token" not in signed.json()
    cookie = signed.headers["set-cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=strict", "Path=/api/identity/v1/token"):
        assert attribute.lower() in cookie.lower(), cookie
    first = cookie.split(";")[0]  # sotay_refresh=…
    refreshed = await world.http.post("/api/identity/v1/token", data={"grant_type": "refresh_token"},
                                      headers={"Cookie": first})
    assert refreshed.status_code == 200, refreshed.text
    assert "refresh_token" not in refreshed.json() and refreshed.json()["access_token"]
    second = refreshed.headers["set-cookie"].split(";")[0]
    assert second != first
    # Signing out ends the sign-in: the cookie is cleared and no token of the family works.
    out = await world.http.post("/api/identity/v1/token/revoke", headers={"Cookie": second})
    assert out.status_code == 200 and "max-age=0" in out.headers["set-cookie"].lower()
    again = await world.http.post("/api/identity/v1/token", data={"grant_type": "refresh_token"},
                                  headers={"Cookie": second})
    assert again.status_code == 400


async def test_a_retired_key_stops_verifying_once_its_tokens_have_expired(world):
    """Runs last: it retires the development key the other tests sign with."""
    settings = world.system.settings
    engine = world.system.runtimes["identity"].context.engine
    old_key = settings.signing_key()
    old_token = member_token(old_key)
    kek = key_encryption_key(settings)
    new_kid = await signing_keys.rotate(engine, kek)
    # Rotated two hours ago, as far as identity can tell: every token of the old key has expired.
    async with engine.begin() as db:
        await db.execute(text("UPDATE signing_keys SET created_at = now() - CASE WHEN kid = :k "
                              "THEN interval '2 hours' ELSE interval '3 hours' END"), {"k": new_kid})
    new_key = next(k.private for k in await signing_keys.load_keys(engine, kek) if k.kid == new_kid)

    async def old_key_retired():
        return refused(await statuses(world, old_token))
    await eventually(old_key_retired, timeout=20)
    assert accepted(await statuses(world, member_token(new_key)))
    jwks = (await world.http.get("/api/identity/v1/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [new_kid]
    async with engine.connect() as db:  # its private half is gone
        kids = (await db.execute(text("SELECT kid FROM signing_keys"))).scalars().all()
    assert kids == [new_kid]
    signed = await world.sign_in(world.registration(0, 7)["party_card_no"], PASSWORD)  # approved above
    assert accepted(await statuses(world, signed.json()["access_token"]))
