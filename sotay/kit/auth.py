"""Bearer tokens: EdDSA (Ed25519) JWTs carrying roles scoped to org subtrees.

Identity alone holds the private keys and signs tokens. It publishes the
public keys as a JWKS, itself signed by identity's root key (a JWS), in the
NATS key-value bucket `sotay_jwks`; every service trusts exactly the keys of
the newest JWKS whose signature the root's public key verifies, so a key put
into the bucket by anyone else is never trusted, and a key identity retires
stops verifying everywhere.
"""

from __future__ import annotations

import base64
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
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


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw[:9]).decode().rstrip("=")


def jwk(public: Ed25519PublicKey) -> dict[str, str]:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": key_id(public),
            "x": base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def mint_token(key: Ed25519PrivateKey, subject: str, grants: list[Grant], *, ttl_s: int = 3600,
               member_card_no: str | None = None, unit: str | None = None) -> str:
    now = time.time()
    claims: dict[str, Any] = {
        # `iat` to the millisecond (RFC 7519 allows a fraction): a token issued just after its
        # account's sessions were ended, in the same second, is told apart from those before.
        "iss": ISSUER, "aud": AUDIENCE, "sub": subject, "iat": math.floor(now * 1000) / 1000, "exp": int(now) + ttl_s,
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


JWKS_MEDIA_TYPE = "jwks+jws"


def sign_jwks(root: Ed25519PrivateKey, public_keys: list[Ed25519PublicKey]) -> bytes:
    """The JWKS as a compact JWS signed by the root key. `iat` orders the sets, so an older
    set put back into the bucket (it keeps a few) cannot bring a retired key back."""
    document = {"keys": [jwk(k) for k in public_keys], "iat": time.time()}
    return jwt.api_jws.encode(orjson.dumps(document), root, algorithm="EdDSA",
                              headers={"typ": JWKS_MEDIA_TYPE, "kid": key_id(root.public_key())}).encode()


def open_signed_jwks(signed: bytes, root: Ed25519PublicKey) -> dict[str, Any]:
    """The JWKS document of a set signed by `root`; AuthError for anything else."""
    try:
        payload = jwt.api_jws.decode(signed, root, algorithms=["EdDSA"])
        document = orjson.loads(payload)
    except (jwt.PyJWTError, orjson.JSONDecodeError, ValueError) as exc:
        raise AuthError(f"the key set is not signed by identity's root key ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("iat"), int | float):
        raise AuthError("the key set has no time")
    return document


class TokenVerifier:
    """Verifies tokens against the keys of the newest key set signed by identity's root.

    A token is refused when it claims a lifetime longer than `max_lifetime_s` (exp - iat), when
    it is issued in the future or expired beyond the allowed clock skew, when its key is not in
    the trusted set, or when its account's sessions were ended after it was issued.

    A client sends the same access token with every request for its whole lifetime, so a token
    verified once is remembered (a bounded cache) until it expires, as long as its key is still
    trusted; the revocation check still runs on every request."""

    CACHE_SIZE = 20_000

    def __init__(self, root: Ed25519PublicKey | None, *, max_lifetime_s: float = 3600,
                 clock_skew_s: float = 30) -> None:
        self.root = root
        self.max_lifetime_s = max_lifetime_s
        self.clock_skew_s = clock_skew_s
        self._keys: dict[str, Ed25519PublicKey] = {}
        self._keys_issued_at = float("-inf")
        self._revoked: dict[str, float] = {}
        # token → (principal, issued at, expires at, key id); dicts keep insertion order, the oldest go first.
        self._verified: dict[str, tuple[Principal, float, float, str]] = {}

    @property
    def trusted_key_ids(self) -> list[str]:
        return list(self._keys)

    def trust_signed_jwks(self, signed: bytes) -> bool:
        """Trust exactly the keys of this signed set, if the root signed it and it is newer
        than the set trusted now. Say whether it was taken."""
        if self.root is None:
            raise AuthError("no root key to check a key set with")
        document = open_signed_jwks(signed, self.root)
        if document["iat"] <= self._keys_issued_at:
            return False
        self._keys = {key_id(k): k for k in public_keys_from_jwks(document)}
        self._keys_issued_at = document["iat"]
        return True

    def revoke(self, subject: str, revoked_at: float) -> None:
        """Refuse the subject's tokens issued up to `revoked_at` (its sessions end)."""
        self._revoked[subject] = revoked_at

    def has_ended(self, subject: str) -> bool:
        """Whether some of the subject's sessions were ended (see `revoke`)."""
        return subject in self._revoked

    def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and cached[2] + self.clock_skew_s > time.time() and cached[3] in self._keys:
            principal, issued_at, _, _ = cached
        else:
            principal, issued_at, expires_at, kid = self._verify_signed(token)
            if len(self._verified) >= self.CACHE_SIZE:
                for old in list(self._verified)[: self.CACHE_SIZE // 10]:
                    del self._verified[old]
            self._verified[token] = (principal, issued_at, expires_at, kid)
        if issued_at <= self._revoked.get(principal.subject, -1):
            raise AuthError("the account's sessions were ended")
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, float, float, str]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = self._keys.get(kid) if isinstance(kid, str) else None
            if key is None:
                raise AuthError("token signed by an unknown key")
            claims = jwt.decode(token, key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER,
                                leeway=self.clock_skew_s,
                                options={"require": ["exp", "iat", "sub", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        if claims["exp"] - claims["iat"] > self.max_lifetime_s:
            raise AuthError(f"invalid token: it claims to live longer than {self.max_lifetime_s:.0f} s")
        grants = tuple(Grant(r["role"], r["unit"]) for r in claims.get("roles", [])
                       if isinstance(r, dict) and r.get("role") in ROLES and isinstance(r.get("unit"), str))
        unit = claims.get("unit")
        principal = Principal(subject=claims["sub"], grants=grants, member_card_no=claims.get("card"),
                              unit=unit if isinstance(unit, str) else None)
        return principal, claims["iat"], claims["exp"], kid
