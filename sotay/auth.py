"""Bearer tokens: EdDSA (Ed25519) JWTs carrying roles scoped to org subtrees.

Identity signs them; every service verifies them with the public keys
(JWKS). Until identity runs, and for local use, the local key under the
data dir signs tokens for `sotay token`.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ROLES = ("member", "cell_secretary", "unit_admin", "editor", "chief_editor", "city_admin")
ISSUER = "sotay/identity"
AUDIENCE = "sotay"
# Identity publishes its public keys (JWKS) here; every service watches it.
JWKS_BUCKET = "sotay_jwks"
JWKS_KEY = "identity"
# Identity puts a disabled account here (key: account id, value: revoked-at
# epoch seconds); every service refuses its tokens issued before that time.
REVOKED_BUCKET = "sotay_revoked"


class AuthError(Exception):
    """The request carries no usable token."""


@dataclass(frozen=True)
class Grant:
    role: str
    unit: str  # the code of the unit whose subtree the role covers


@dataclass(frozen=True)
class Principal:
    subject: str
    grants: tuple[Grant, ...]
    member_card_no: str | None = None
    unit: str | None = None  # the member's own cell, when the account is a member's

    def units_for(self, *roles: str) -> list[str]:
        return [g.unit for g in self.grants if g.role in roles]


def load_or_create_signing_key(path: Path) -> Ed25519PrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 key")
        return key
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)
    return key


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw[:9]).decode().rstrip("=")


def jwk(public: Ed25519PublicKey) -> dict[str, str]:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": key_id(public),
            "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def mint_token(key: Ed25519PrivateKey, subject: str, grants: list[Grant], *, ttl_s: int = 3600,
               member_card_no: str | None = None, unit: str | None = None) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": now, "exp": now + ttl_s,
        "jti": str(uuid.uuid4()), "roles": [{"role": g.role, "unit": g.unit} for g in grants],
    }
    if member_card_no:
        claims["card"] = member_card_no
    if unit:
        claims["unit"] = unit  # the member's own cell
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": key_id(key.public_key())})


def public_keys_from_jwks(document: dict[str, Any]) -> list[Ed25519PublicKey]:
    keys = []
    for entry in document.get("keys", []):
        if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519" and isinstance(entry.get("x"), str):
            raw = base64.urlsafe_b64decode(entry["x"] + "=" * (-len(entry["x"]) % 4))
            keys.append(Ed25519PublicKey.from_public_bytes(raw))
    return keys


class TokenVerifier:
    """Verifies tokens against a set of public keys by key id.

    A client sends the same access token with every request for its whole
    lifetime, so a token verified once is remembered (a bounded cache) until
    it expires; the revocation check still runs on every request."""

    CACHE_SIZE = 20_000

    def __init__(self, keys: list[Ed25519PublicKey] | None = None) -> None:
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._revoked: dict[str, float] = {}
        # token → (principal, issued at, expires at); dicts keep insertion order, the oldest go first.
        self._verified: dict[str, tuple[Principal, float, float]] = {}
        for public in keys or []:
            self.add_key(public)

    def add_key(self, public: Ed25519PublicKey) -> None:
        self._keys[key_id(public)] = public

    def revoke(self, subject: str, revoked_at: float) -> None:
        """Refuse the subject's tokens issued up to `revoked_at` (its sessions end)."""
        self._revoked[subject] = revoked_at

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and cached[2] > time.time():
            principal, issued_at, _ = cached
        else:
            principal, issued_at, expires_at = self._verify_signed(token)
            if len(self._verified) >= self.CACHE_SIZE:
                for old in list(self._verified)[: self.CACHE_SIZE // 10]:
                    del self._verified[old]
            self._verified[token] = (principal, issued_at, expires_at)
        if issued_at <= self._revoked.get(principal.subject, -1):
            raise AuthError("the account's sessions were ended")
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, float, float]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid)
            if key is None:
                raise AuthError("token signed by an unknown key")
            claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER,
                                options={"require": ["exp", "sub", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        grants = tuple(Grant(r["role"], r["unit"]) for r in claims.get("roles", [])
                       if isinstance(r, dict) and r.get("role") in ROLES and isinstance(r.get("unit"), str))
        unit = claims.get("unit")
        principal = Principal(subject=claims["sub"], grants=grants, member_card_no=claims.get("card"),
                              unit=unit if isinstance(unit, str) else None)
        return principal, claims.get("iat", 0), claims["exp"]
