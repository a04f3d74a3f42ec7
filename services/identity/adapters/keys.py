"""Identity's token-signing keys: kept in its schema sealed with the key-encryption key
(sotay/kit/keys.py), the newest signs, and a key a newer one replaced is retired once every
token it signed has expired: its public key leaves the JWKS and its private key is erased.

The first key is the development data dir's key when there is one (so tokens of tests and
benchmarks verify alike), else a new one. `sotay keys rotate` adds a newer key; tokens signed
by older keys stay valid until they expire. The public keys go out as JWKS over HTTP and, signed
by identity's root key, in the NATS key-value bucket `sotay_jwks`, from which every service verifies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from sotay.kit.auth import JWKS_KEY, jwk, key_id, open_signed_jwks, sign_jwks
from sotay.kit.keys import seal, unseal
from sotay.kit.streams import ensure_bucket, jwks_bucket, latest_value, revoked_bucket

# After a newer key was made, replicas take up to their housekeeping round (5 s) to sign with it.
SWITCH_OVER = timedelta(seconds=30)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: Ed25519PrivateKey
    created_at: datetime


def _raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())


async def _insert(conn: AsyncConnection, key: Ed25519PrivateKey, kek: bytes) -> str:
    kid = key_id(key.public_key())
    await conn.execute(text("INSERT INTO signing_keys (kid, sealed, created_at) VALUES (:k, :s, clock_timestamp()) "
                            "ON CONFLICT DO NOTHING"), {"k": kid, "s": seal(kek, _raw(key), context=kid)})
    return kid


async def load_keys(engine: AsyncEngine, kek: bytes, *, first: Ed25519PrivateKey | None = None) -> list[SigningKey]:
    """Every signing key, newest first. With none yet, `first` (or a new key) becomes the first;
    rows of earlier versions, kept in clear, are sealed now."""
    async with engine.begin() as conn:
        await conn.execute(text("LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE"))  # replicas starting together
        for kid, pem in (await conn.execute(text(
                "SELECT kid, private_pem FROM signing_keys WHERE sealed IS NULL"))).all():
            key = serialization.load_pem_private_key(bytes(pem), password=None)
            await conn.execute(text("UPDATE signing_keys SET sealed = :s, private_pem = NULL WHERE kid = :k"),
                               {"s": seal(kek, _raw(key), context=kid), "k": kid})
        if not (await conn.execute(text("SELECT EXISTS (SELECT 1 FROM signing_keys)"))).scalar_one():
            await _insert(conn, first or Ed25519PrivateKey.generate(), kek)
        rows = (await conn.execute(text(
            "SELECT kid, sealed, created_at FROM signing_keys ORDER BY created_at DESC, kid"))).all()
    return [SigningKey(kid, Ed25519PrivateKey.from_private_bytes(unseal(kek, bytes(sealed), context=kid)), created_at)
            for kid, sealed, created_at in rows]


async def rotate(engine: AsyncEngine, kek: bytes) -> str:
    async with engine.begin() as conn:
        return await _insert(conn, Ed25519PrivateKey.generate(), kek)


def in_service(keys: list[SigningKey], now: datetime, max_token_lifetime: timedelta) -> list[SigningKey]:
    """The newest key, and each older one while a token it signed may still be alive: until
    its successor has been signing for longer than a token may live."""
    kept = keys[:1]
    for successor, key in zip(keys, keys[1:], strict=False):
        if now < successor.created_at + SWITCH_OVER + max_token_lifetime:
            kept.append(key)
    return kept


async def erase(engine: AsyncEngine, kids: list[str]) -> None:
    """Erase retired keys: nothing they signed is alive any more."""
    if kids:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM signing_keys WHERE kid = ANY(:k)"), {"k": kids})


def jwks(keys: list[SigningKey]) -> dict:
    return {"keys": [jwk(k.private.public_key()) for k in keys]}


async def publish_jwks(js: JetStreamContext, root: Ed25519PrivateKey, keys: list[SigningKey],
                       replicas: int = 1) -> bytes:
    """Put the key set, signed by the root key, where every service watches; return it."""
    signed = sign_jwks(root, [k.private.public_key() for k in keys])
    kv = await js.create_key_value(jwks_bucket(replicas))
    await kv.put(JWKS_KEY, signed)
    return signed


async def is_published(js: JetStreamContext, root) -> bool:
    """Whether the bucket's key set is one the root signed (not overwritten by anyone else)."""
    try:
        open_signed_jwks(await latest_value(js, jwks_bucket().bucket, JWKS_KEY) or b"", root)
    except Exception:  # no set, no bucket, or not signed by the root
        return False
    return True


async def revocations(js: JetStreamContext, ttl_s: float, replicas: int = 1, *, update: bool = True):
    """The bucket of ended sessions; an entry outlives every token it refuses."""
    return await ensure_bucket(js, revoked_bucket(ttl_s, replicas), update=update)
