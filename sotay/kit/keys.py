"""Key material: where each secret comes from, and sealing with the key-encryption key.

In production (`SOTAY_ENV=production`) every key comes from the secret store through its
variable, and nothing secret is made up: a missing key stops the process with a message
naming the variable. In development the keys are files under `<data dir>/keys`, made on
first use, so `sotay up` needs no set-up.

Who holds what (deploy/README.md, "Security"):

| key | variable | held by |
| --- | --- | --- |
| key-encryption key | `SOTAY_KEY_ENCRYPTION_KEY` | identity: its token-signing keys are sealed with it at rest |
| JWKS root key (private) | `SOTAY_JWKS_ROOT_KEY` | identity: it signs the public keys it publishes |
| JWKS root key (public) | `SOTAY_JWKS_ROOT_PUBLIC_KEY` | every other service: it trusts only a JWKS signed by the root |
| personal-data hash key | `SOTAY_PII_HMAC_KEY` | members and identity: the keyed hashes of citizen IDs and phones |
| members key-encryption key | `SOTAY_MEMBERS_KEK` | members: it wraps the data keys its citizen IDs, phones and dates of birth are sealed with |
| event key-encryption key | `SOTAY_EVENTS_KEK` | members, identity, content: it wraps the per-member keys member events' personal part is sealed with (sotay/kit/member_keys.py) |
| Web Push (VAPID) key | `SOTAY_VAPID_PRIVATE_KEY` | content: it signs what it sends to push services |
| webhooks key-encryption key | `SOTAY_WEBHOOKS_KEK` | webhooks: it seals each endpoint's signing secret at rest |
"""

from __future__ import annotations

import base64
import os
import hashlib
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sotay.kit.settings import Settings


class MissingKey(RuntimeError):
    """A key this process needs is not configured (production), or cannot be read."""


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    text = text.strip()
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_key(value: str, variable: str, size: int = 32) -> bytes:
    try:
        raw = unb64url(value)
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise MissingKey(f"{variable} must be {size} bytes in base64url (see deploy/make-env)")
    return raw


def _development_file(settings: Settings, name: str, variable: str, make: Callable[[], bytes]) -> bytes:
    """A development key's file under data_dir/keys, made on first use. Processes starting
    together on one data dir make it once: the file appears whole or not at all."""
    if settings.env == "production":
        raise MissingKey(f"{variable} is not set: in production every key comes from the secret store")
    path = settings.keys_dir / name
    if not path.exists():
        draft = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        draft.write_bytes(make())
        draft.chmod(0o600)
        try:
            os.link(draft, path)  # fails if another process made it first: theirs is kept
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_bytes()


def _aes_key(settings: Settings, configured: str | None, variable: str, file: str, what: str) -> bytes:
    """An AES-256 key: the variable's value, else (development) the data dir's file, made on first use."""
    if configured:
        return _raw_key(configured, variable)
    text = _development_file(settings, file, variable, lambda: b64url(secrets.token_bytes(32)).encode())
    return _raw_key(text.decode(), f"the development {what}")


def key_encryption_key(settings: Settings) -> bytes:
    """The key that seals identity's token-signing keys at rest (AES-256-GCM)."""
    return _aes_key(settings, settings.key_encryption_key, "SOTAY_KEY_ENCRYPTION_KEY", "kek.key",
                    "key-encryption key")


def members_kek(settings: Settings) -> bytes:
    """The key that wraps members' data keys (envelope encryption of its sealed columns)."""
    return _aes_key(settings, settings.members_kek, "SOTAY_MEMBERS_KEK", "members-kek.key",
                    "members key-encryption key")


def events_kek(settings: Settings) -> bytes:
    """The key that wraps each member's event key (sotay_member_keys, sotay/kit/member_keys.py)."""
    return _aes_key(settings, settings.events_kek, "SOTAY_EVENTS_KEK", "events-kek.key", "event key-encryption key")


def webhooks_kek(settings: Settings) -> bytes:
    """The key that seals each webhook endpoint's signing secret at rest (services/webhooks)."""
    return _aes_key(settings, settings.webhooks_kek, "SOTAY_WEBHOOKS_KEK", "webhooks-kek.key",
                    "webhooks key-encryption key")


def members_kek_previous(settings: Settings) -> bytes | None:
    """The members key-encryption key being replaced, while data keys are re-wrapped (None when not set)."""
    if not settings.members_kek_previous:
        return None
    return _raw_key(settings.members_kek_previous, "SOTAY_MEMBERS_KEK_PREVIOUS")


def metrics_token(settings: Settings) -> str | None:
    """The bearer token a Prometheus scraper sends to /metrics and the rollout gauges
    (sotay/kit/observability.py). Not set in production: None, and scraping is off. In development
    the data dir's file, made on first use, which `sotay status` reads too."""
    if settings.metrics_token:
        return settings.metrics_token.strip()
    if settings.env == "production":
        return None
    return _development_file(settings, "metrics.token", "SOTAY_METRICS_TOKEN",
                             lambda: secrets.token_urlsafe(32).encode()).decode().strip()


def jwks_root_key(settings: Settings) -> Ed25519PrivateKey:
    """Identity's root key: it signs every JWKS identity publishes."""
    if settings.jwks_root_key:
        seed = settings.jwks_root_key
    else:
        seed = _development_file(settings, "jwks-root.key", "SOTAY_JWKS_ROOT_KEY",
                                 lambda: b64url(secrets.token_bytes(32)).encode()).decode()
    return Ed25519PrivateKey.from_private_bytes(_raw_key(seed, "SOTAY_JWKS_ROOT_KEY"))


def jwks_root_public_key(settings: Settings) -> Ed25519PublicKey:
    """The root's public key, which every service trusts a JWKS by."""
    if settings.jwks_root_public_key:
        return Ed25519PublicKey.from_public_bytes(_raw_key(settings.jwks_root_public_key,
                                                           "SOTAY_JWKS_ROOT_PUBLIC_KEY"))
    if settings.jwks_root_key or settings.env != "production":
        return jwks_root_key(settings).public_key()
    raise MissingKey("SOTAY_JWKS_ROOT_PUBLIC_KEY is not set: services trust only a JWKS signed by identity's "
                     "root key, whose public half this variable gives")


_IPAD = bytes(b ^ 0x36 for b in range(256))
_OPAD = bytes(b ^ 0x5C for b in range(256))


class HmacSha256:
    """HMAC-SHA256 (RFC 2104) under one key, the key's two padded hash states made once: the same
    digests as `hmac.digest(key, value, "sha256")`, in about half the time for the short values an
    import or a reconciliation hashes by the hundred thousand."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        padded = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
        self._inner = hashlib.sha256(padded.translate(_IPAD))
        self._outer = hashlib.sha256(padded.translate(_OPAD))

    def hexdigest(self, value: bytes) -> str:
        inner = self._inner.copy()
        inner.update(value)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


def pii_hmac_key(settings: Settings) -> bytes:
    """The key of the keyed hashes (HMAC-SHA256) of citizen IDs and phones in events."""
    if settings.pii_hmac_key:
        return settings.pii_hmac_key.encode()
    legacy = settings.keys_dir / "pii-hmac.key"  # the name it always had: hashes already published stay valid
    return _development_file(settings, legacy.name, "SOTAY_PII_HMAC_KEY",
                             lambda: secrets.token_hex(32).encode()).strip()


def vapid_private_key(settings: Settings) -> str:
    """Content's Web Push key (P-256, base64url of its 32 bytes)."""
    if settings.vapid_private_key:
        return settings.vapid_private_key.strip()
    return _development_file(settings, "vapid-p256.key", "SOTAY_VAPID_PRIVATE_KEY",
                             lambda: new_vapid_key().encode()).decode().strip()


def new_vapid_key() -> str:
    """A fresh P-256 private key, base64url of its 32 bytes."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def vapid_public_key(private: str) -> str:
    """The browser's applicationServerKey for a VAPID key: its public point, uncompressed, base64url."""
    key = ec.derive_private_key(int.from_bytes(unb64url(private), "big"), ec.SECP256R1())
    return b64url(key.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint))


def development_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The development data dir's token-signing key: identity's first key when its table is
    empty, and the key tests and benchmarks sign with. Kept sealed by the key-encryption
    key (PKCS#8 with encryption), so the file alone signs nothing. Development only."""
    path = settings.signing_key_file or settings.keys_dir / "signing-ed25519.pem"
    kek = key_encryption_key(settings)

    def make() -> bytes:
        return sealed_pem(Ed25519PrivateKey.generate(), kek)
    if settings.signing_key_file is None:
        pem = _development_file(settings, path.name, "the development signing key", make)
    elif settings.env == "production":
        raise MissingKey("SOTAY_SIGNING_KEY_FILE is a development setting: identity keeps its keys in its database")
    else:
        if not path.exists():
            path.write_bytes(make())
            path.chmod(0o600)
        pem = path.read_bytes()
    return load_pem(pem, kek, path)


def sealed_pem(key: Ed25519PrivateKey, kek: bytes) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.BestAvailableEncryption(kek))


def load_pem(pem: bytes, kek: bytes, where: Path | str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(pem, password=kek)
    except TypeError:
        # A data dir from before keys were sealed: the key was written in clear. Seal it now.
        key = serialization.load_pem_private_key(pem, password=None)
        if isinstance(where, Path):
            where.write_bytes(sealed_pem(key, kek))
    except ValueError as exc:
        raise MissingKey(f"{where}: cannot be opened with this key-encryption key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise MissingKey(f"{where} is not an Ed25519 key")
    return key


# --- sealing ---------------------------------------------------------------------------------

_SEALED_V1 = b"\x01"


def seal(kek: bytes, plaintext: bytes, *, context: str) -> bytes:
    """AES-256-GCM under the key-encryption key; `context` (a key id, say) is bound to the
    ciphertext, so a sealed value cannot be moved to another row and opened there."""
    nonce = secrets.token_bytes(12)
    return _SEALED_V1 + nonce + AESGCM(kek).encrypt(nonce, plaintext, context.encode())


def unseal(kek: bytes, sealed: bytes, *, context: str) -> bytes:
    if sealed[:1] != _SEALED_V1:
        raise MissingKey("not a value sealed by sotay")
    try:
        return AESGCM(kek).decrypt(sealed[1:13], sealed[13:], context.encode())
    except Exception:  # cryptography's InvalidTag: another key, or a changed value
        raise MissingKey("a sealed value cannot be opened with this key-encryption key") from None


async def publish_development_jwks(js, settings: Settings) -> None:
    """For a system run without identity (a one-service benchmark, tests): publish the
    development signing key as identity would, signed by the development root key."""
    from sotay.kit.auth import JWKS_KEY, sign_jwks
    from sotay.kit.streams import jwks_bucket

    signed = sign_jwks(jwks_root_key(settings), [development_signing_key(settings).public_key()])
    kv = await js.create_key_value(jwks_bucket(settings.stream_replicas))
    await kv.put(JWKS_KEY, signed)
