"""Identity's signing keys: kept in its schema, the newest signs, all verify.

The first key is the local key of the data dir, so tokens from
`sotay token` and from identity verify alike on a single machine.
`sotay keys rotate` adds a newer key; tokens signed by older keys stay
valid until they expire. The public keys go out as JWKS over HTTP and in
the NATS key-value bucket `sotay_jwks`, from which every service verifies.
"""

from __future__ import annotations

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nats.js import JetStreamContext
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sotay.auth import JWKS_KEY, jwk, key_id
from sotay.streams import jwks_bucket, revoked_bucket


def _pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


async def load_keys(engine: AsyncEngine, local_key: Ed25519PrivateKey) -> list[Ed25519PrivateKey]:
    """All signing keys, newest first; the local key is stored on first use."""
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO signing_keys (kid, private_pem) VALUES (:k, :p) ON CONFLICT DO NOTHING"),
                           {"k": key_id(local_key.public_key()), "p": _pem(local_key)})
        rows = (await conn.execute(text(
            "SELECT private_pem FROM signing_keys ORDER BY created_at DESC, kid"))).scalars().all()
    return [serialization.load_pem_private_key(bytes(pem), password=None) for pem in rows]


async def rotate(engine: AsyncEngine) -> str:
    key = Ed25519PrivateKey.generate()
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO signing_keys (kid, private_pem, created_at) "
                                "VALUES (:k, :p, clock_timestamp())"),
                           {"k": key_id(key.public_key()), "p": _pem(key)})
    return key_id(key.public_key())


def jwks(keys: list[Ed25519PrivateKey]) -> dict:
    return {"keys": [jwk(k.public_key()) for k in keys]}


async def publish_jwks(js: JetStreamContext, keys: list[Ed25519PrivateKey], replicas: int = 1) -> None:
    kv = await js.create_key_value(jwks_bucket(replicas))
    await kv.put(JWKS_KEY, orjson.dumps(jwks(keys)))


async def revocations(js: JetStreamContext, ttl_s: float, replicas: int = 1):
    """The bucket of disabled accounts; an entry outlives every token it refuses."""
    return await js.create_key_value(revoked_bucket(ttl_s, replicas))
